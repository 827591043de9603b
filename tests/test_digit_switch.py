"""The one-line data set switch of the digit lessons: DATASET = "glyphs" | "mnist" | "fashion-mnist"."""
import json
import os

import numpy as np
import pytest
import torch

import course.data as data
from course.cache import trained_path
from course.data.glyphs import course_digits
from course.data.mnist import DatasetUnavailable, write_idx
from course.judge import JudgeConfig, _load_judge, load_judge
from course.metrics import _reference_features, judge_samples, reference_features

ROOT = os.path.join(os.path.dirname(__file__), "..")
DIGIT_LESSONS = ("02_neural_network", "04_cnn", "05_autoencoder", "07_gan", "08_diffusion")


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


def test_offline_falls_back_to_the_glyphs_in_one_line(monkeypatch, capsys):
    def offline(name, root=None, **kwargs):
        raise DatasetUnavailable(f"could not download {name}: network unreachable")

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


@pytest.mark.parametrize("lesson", DIGIT_LESSONS)
def test_each_digit_lesson_switches_with_one_line(lesson):
    with open(os.path.join(ROOT, "solutions", f"{lesson}.ipynb")) as f:
        cells = [("".join(c["source"])) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    switch = [i for i, src in enumerate(cells) if 'DATASET = "glyphs"' in src]
    assert switch and switch[0] <= 4, "the switch sits in one of the first code cells"
    code = "\n".join(cells)
    assert "load_digits(DATASET)" in code
    assert "glyph_digits(" not in code, "every image the lesson trains on comes from the switch"
    for call in ("judge_samples(", "judge_outputs(", "reference_features("):
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
