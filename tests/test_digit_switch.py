"""The one-line data set switch of the digit lessons: DATASET = "glyphs" | "mnist" | "fashion-mnist"."""
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course.data as data
from course.cache import trained_path
from course.data.dirty import make_dirty_glyphs
from course.data.glyphs import course_digits, glyph_digits
from course.data.imagefolder import load_image_folder
from course.data.mnist import DatasetUnavailable, load_real, write_idx
from course.data.sequences import moving_sequences
from course.judge import JudgeConfig, _load_judge, load_judge
from course.metrics import _reference_features, judge_samples, reference_features
from solution_notebooks import code_cells

DIGIT_LESSONS = ("00_start_here", "02_neural_network", "04_cnn", "05_autoencoder", "07_gan", "08_diffusion")
SAMPLE_LESSONS = ("01_learning_from_data", "03_data", "06_lstm")  # a seeded sample of the set, or its images moving


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch, tmp_path):
    """Each test starts on the glyph digits with empty in-process caches, and leaves it so."""
    monkeypatch.setitem(data._active, "name", "glyphs")
    monkeypatch.setitem(data._active, "root", None)
    for cached in (data._digits, _load_judge, _reference_features):
        cached.cache_clear()
    yield
    for cached in (data._digits, _load_judge, _reference_features):
        cached.cache_clear()


def fake_real_folder(folder, n_train=256, n_test=256):
    """Write the four IDX files of a 'real' data set, drawn from the course's digits so a judge can learn them."""
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = torch.arange(n) % 10
        x = (course_digits(y, generator=g)[:, 0] * 255).round().to(torch.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), x.numpy())
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), y.numpy().astype(np.uint8))
    return str(folder)


def test_fashion_mnist_gets_its_own_judge_and_its_own_cache_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    glyph_key = trained_path("05_autoencoder", JudgeConfig())
    ds = data.load_digits("fashion-mnist", root=fake_real_folder(tmp_path / "fashion"))
    assert ds.name == "fashion-mnist" and data.active_dataset() == "fashion-mnist" and ds.class_names[0] == "T-shirt"
    assert trained_path("05_autoencoder", JudgeConfig()) != glyph_key  # a glyph model is never loaded for Fashion

    scores = judge_samples(ds.x_test[:100])
    assert set(scores) >= {"recognisability", "frechet", "precision", "recall"}
    judge = load_judge("fashion-mnist")
    assert judge.cfg.dataset == "fashion-mnist"
    assert "Training the Fashion-MNIST judge" in capsys.readouterr().out
    glyph_judge = load_judge("glyphs")
    assert not torch.equal(judge.body[0].weight, glyph_judge.body[0].weight)

    _load_judge.cache_clear()  # a new session: the judge comes from the cache, no second training
    again = load_judge("fashion-mnist")
    out = capsys.readouterr().out
    assert "Loaded judge" in out and "Training" not in out
    assert torch.equal(again.body[0].weight, judge.body[0].weight)


def test_mnist_is_scored_by_the_glyph_judge_against_real_test_images(tmp_path):
    ds = data.load_digits("mnist", root=fake_real_folder(tmp_path / "mnist", n_train=20, n_test=300))
    assert load_judge("mnist") is load_judge("glyphs")  # the glyph judge transfers to real handwriting
    from course.judge import judge_outputs

    ref = reference_features(n=100)  # the active data set: the last 100 real test images
    assert torch.allclose(ref, judge_outputs(ds.x_test[-100:])[0])
    assert not torch.allclose(ref, reference_features("glyphs", n=100))


def offline(name, root=None, **kwargs):
    """Stand in for load_real without a network."""
    raise DatasetUnavailable(f"could not download {name}: network unreachable")


def printed_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_offline_falls_back_to_the_glyphs_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr("course.data.mnist.load_real", offline)
    ds = data.load_digits("mnist")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1 and "mnist is not available here" in lines[0] and "glyph digits instead" in lines[0]
    assert ds.name == "glyphs" and data.active_dataset() == "glyphs"


def test_unknown_names_get_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean 'fashion-mnist'"):
        data.load_digits("fashion")
    with pytest.raises(RuntimeError, match="load_digits\\('mnist'\\) first"):
        reference_features("mnist")  # the glyphs are active: there are no real test images to compare with


@pytest.mark.parametrize("lesson", DIGIT_LESSONS + SAMPLE_LESSONS)
def test_each_digit_lesson_switches_with_one_line(lesson):
    cells = code_cells(lesson)
    switch = [i for i, src in enumerate(cells) if 'DATASET = "glyphs"' in src]
    assert switch and switch[0] <= 4, "the switch sits in one of the first code cells"
    code = "\n".join(cells)
    assert re.search(r"\b(load_digits|digit_subset|use_digits)\(DATASET\b", code)
    assert "glyph_digits(" not in code, "every image the lesson trains on comes from the switch"
    for call in ("judge_samples(", "judge_outputs(", "reference_features(", "make_dirty_glyphs(", "moving_sequences("):
        for part in code.split(call)[1:]:
            args = part.split(")")[0]
            assert '"glyphs"' not in args, f"{call} names the glyphs: it must follow the switch"


def test_targets_hold_on_the_glyphs_and_are_shown_on_real_data(monkeypatch, capsys):
    from course.report import report

    with pytest.raises(AssertionError, match="misses its target"):
        report("accuracy", 0.5, ">= 0.99")
    monkeypatch.setitem(data._active, "name", "fashion-mnist")
    assert report("accuracy", 0.5, ">= 0.99") == 0.5  # a learner who switched is not stopped by a glyph target
    assert "✗ (the target is for the glyph digits; on fashion-mnist it is shown, not enforced)" in capsys.readouterr().out


def same_tensors(a, b) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("x_train", "y_train", "x_test", "y_test"))


def test_a_sample_of_the_glyphs_is_exactly_glyph_digits():
    for sizes in ({"n_train": 64, "n_test": 0}, {"n_train": 30, "n_test": 20, "seed": 3}):  # lesson 01's first call, and a seed
        assert same_tensors(data.digit_subset("glyphs", **sizes), glyph_digits(**sizes))
    assert data.active_dataset() == "glyphs" and data.use_digits("glyphs") == "glyphs"


def test_a_sample_of_a_real_set_is_drawn_from_it_seeded(tmp_path):
    root = fake_real_folder(tmp_path / "mnist", n_train=60, n_test=30)
    full = load_real("mnist", root=root)
    ds = data.digit_subset("mnist", n_train=20, n_test=10, seed=3, root=root)
    assert ds.name == "mnist" and data.active_dataset() == "mnist" and ds.class_names == full.class_names
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28) and ds.x_train.dtype == torch.float32
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1 and ds.y_train.dtype == torch.int64
    for x, y, x_full, y_full in ((ds.x_train, ds.y_train, full.x_train, full.y_train), (ds.x_test, ds.y_test, full.x_test, full.y_test)):
        same = (x.flatten(1)[:, None] == x_full.flatten(1)[None]).all(-1)  # (n, N): which image of the set each one is
        index = same.float().argmax(1)
        assert same.any(1).all() and len(set(index.tolist())) == len(x)  # every one from the set, none twice
        assert torch.equal(y, y_full[index])  # with its own label
    assert same_tensors(data.digit_subset("mnist", n_train=20, n_test=10, seed=3, root=root), ds)
    assert not torch.equal(data.digit_subset("mnist", n_train=20, n_test=10, seed=4, root=root).x_train, ds.x_train)
    with pytest.raises(ValueError, match="mnist has 60 training images, not 61"):
        data.digit_subset("mnist", n_train=61, n_test=0, root=root)


def test_a_sample_offline_falls_back_to_the_glyphs_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr("course.data.mnist.load_real", offline)
    ds = data.digit_subset("fashion-mnist", n_train=64, n_test=0)
    lines = printed_lines(capsys)
    assert len(lines) == 1 and "fashion-mnist is not available here" in lines[0] and "glyph digits instead" in lines[0]
    assert same_tensors(ds, glyph_digits(n_train=64, n_test=0)) and data.active_dataset() == "glyphs"
    assert data.use_digits("mnist") == "glyphs" and len(printed_lines(capsys)) == 1


def test_bad_names_get_a_suggestion(tmp_path):
    with pytest.raises(ValueError, match="not 'mnsit'. Did you mean 'mnist'"):
        data.digit_subset("mnsit", n_train=1, n_test=1)
    with pytest.raises(ValueError, match="Did you mean 'fashion-mnist'"):
        make_dirty_glyphs(str(tmp_path), n=10, source="fashion")
    with pytest.raises(ValueError, match="choose from glyphs, mnist, fashion-mnist, shapes. Did you mean 'shapes'"):
        moving_sequences(n=2, kind="shape")
    for make in (lambda: make_dirty_glyphs(str(tmp_path), n=10, source="mnist"), lambda: moving_sequences(n=2, kind="mnist")):
        with pytest.raises(RuntimeError, match=r"load_digits\('mnist'\) first"):  # the glyphs are active: no MNIST loaded
            make()


def folder_bytes(folder) -> dict[str, bytes]:
    """Return every file of a folder tree as {relative path: its bytes}."""
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


def test_a_dirty_folder_from_a_real_set(tmp_path):
    sizes = dict(n=40, seed=0, n_corrupt=2, n_blank=2, n_exact=3, n_near=3)
    make_dirty_glyphs(str(tmp_path / "default"), **sizes)
    make_dirty_glyphs(str(tmp_path / "glyphs"), source="glyphs", **sizes)
    assert folder_bytes(tmp_path / "default") == folder_bytes(tmp_path / "glyphs")  # the glyphs: as before

    full = data.load_digits("mnist", root=fake_real_folder(tmp_path / "mnist", n_train=100, n_test=10))
    truth = make_dirty_glyphs(str(tmp_path / "real"), source="mnist", **sizes)
    make_dirty_glyphs(str(tmp_path / "again"), source="mnist", **sizes)
    assert folder_bytes(tmp_path / "real") == folder_bytes(tmp_path / "again") != folder_bytes(tmp_path / "glyphs")
    folder = load_image_folder(str(tmp_path / "real"))
    altered = set(truth.blank) | {copy for _, copy in truth.near_duplicates}
    checked = 0
    for x, label, path in zip(folder.x, folder.y, folder.paths):
        if path not in altered:
            same = (full.x_train.flatten(1) == x.flatten()).all(1)  # the set's training images that this file shows
            assert truth.mislabelled.get(path, int(label)) in full.y_train[same].tolist()  # one of them, with its true label
            checked += 1
    assert checked == 40 + 3
    with pytest.raises(ValueError, match="mnist has 10 training images of class '0', not 20"):
        make_dirty_glyphs(str(tmp_path / "big"), n=200, source="mnist")


def test_moving_sequences_of_a_real_set(tmp_path):
    glyphs, labels = moving_sequences(n=6, n_frames=3, seed=2)
    same, same_labels = moving_sequences(n=6, n_frames=3, kind="glyphs", seed=2)
    assert torch.equal(glyphs, same) and torch.equal(labels, same_labels)

    full = data.load_digits("fashion-mnist", root=fake_real_folder(tmp_path / "fashion", n_train=60, n_test=10))
    x, y = moving_sequences(n=8, n_frames=3, kind="fashion-mnist", seed=2)
    assert x.shape == (8, 3, 1, 32, 32) and y.shape == (8, 1) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    again, again_labels = moving_sequences(n=8, n_frames=3, kind="fashion-mnist", seed=2)
    assert torch.equal(again, x) and torch.equal(again_labels, y)
    # Each object is one of the set's training images of its label, shrunk to the 14-pixel patch; moving keeps its ink.
    ink = F.interpolate(full.x_train, size=(14, 14), mode="area").sum((1, 2, 3))  # (N,)
    for frames, label in zip(x, y[:, 0]):
        assert (ink[full.y_train == label] - frames[0].sum()).abs().min() < 1e-3
