import pytest
import torch

from course.device import available_devices, by_device, environment_report, on_gpu, pick_device, seed_everything, set_threads


def test_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert available_devices() == ["cpu"] and pick_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert available_devices() == ["mps", "cpu"] and pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # the override wins over a GPU
    assert pick_device().type == "cpu"


def test_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match="cuda, mps, cpu"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_says_what_is_available():
    with pytest.raises(RuntimeError, match="not available.*available: .*cpu"):
        pick_device("cuda")


def test_seed_everything_repeats_random_numbers():
    g = seed_everything(3)
    a = torch.rand(3), torch.rand(2, generator=g)
    g = seed_everything(3)
    b = torch.rand(3), torch.rand(2, generator=g)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_by_device_is_the_one_switch(monkeypatch):
    assert by_device(1, 2, "cpu") == 1
    assert by_device(1, 2, "cuda") == 2
    monkeypatch.setenv("COURSE_SCALE", "cpu")
    assert by_device(1, 2, "cuda") == 1
    assert on_gpu("cuda") and not on_gpu("cpu")


def test_course_scale_gpu_forces_the_gpu_settings_on_any_device(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "gpu")
    assert by_device(1, 2, "cpu") == 2 and by_device(1, 2, "cuda") == 2
    assert by_device(1, 2) == 2  # the picked device, whatever it is
    monkeypatch.setenv("COURSE_SCALE", "")  # set but empty: follow the device, as when unset
    assert by_device(1, 2, "cpu") == 1


def test_course_scale_typo_is_an_error_not_a_silent_default(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "GPU")
    with pytest.raises(ValueError, match="'cpu' or 'gpu'"):
        by_device(1, 2, "cpu")


def test_threads_and_report():
    n = set_threads()
    assert n >= 1
    with pytest.raises(ValueError):
        set_threads(0)
    info = environment_report(torch.device("cpu"))
    assert info["device"] == "cpu" and info["torch"] == torch.__version__


def test_cpu_threads_sets_and_restores_even_on_error():
    from course.device import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="at least 1"), cpu_threads(0):
        pass
    assert torch.get_num_threads() == before
