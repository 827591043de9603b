import math

import pytest
import torch
import torch.nn.functional as F

from course.data.glyphs import glyph_digits
from course.judge import judge_config, judge_outputs, load_judge
from course.metrics import (coverage, frechet_distance, judge_samples, precision_recall, psnr, recognisability,
                            recognisable_share)
from course.data.shapes import ATTRIBUTES, shapes_dataset


def test_psnr_known_values():
    x = torch.zeros(1, 1, 4, 4)
    assert psnr(x + 0.1, x) == pytest.approx(20.0)
    assert psnr(x, x) == math.inf
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(x, torch.zeros(1, 1, 2, 2))


def test_recognisability_and_coverage_known_values():
    confident = F.one_hot(torch.arange(10), 10).float()
    assert recognisability(confident) == 1.0 and coverage(confident) == pytest.approx(1.0)
    collapsed = F.one_hot(torch.zeros(10, dtype=torch.long), 10).float()
    assert coverage(collapsed) == pytest.approx(0.1)
    unsure = torch.full((5, 10), 0.1)
    assert recognisability(unsure) == 0.0 and coverage(unsure) == 0.0
    # one table per head (the shapes judge): recognisable only where every head is sure
    assert recognisability({"digit": confident}) == 1.0
    assert recognisability({"shape": confident, "colour": torch.cat([confident[:5], torch.full((5, 10), 0.1)])}) == 0.5


def test_frechet_distance_of_known_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g)
    b = torch.randn(20000, 3, generator=g) * 2 + 1  # mean shift 1 per dim, std 2
    # |mu|^2 = 3; trace term: 3 * (1 + 4 - 2*2) = 3
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_precision_recall_separate_quality_from_variety():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 2, generator=g)
    assert precision_recall(real, real.clone())[0] == 1.0
    collapsed = real[:40].repeat(10, 1) + 0.01 * torch.randn(400, 2, generator=g)
    p, r = precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.3
    far = real + 100
    assert precision_recall(real, far) == (0.0, 0.0)


def test_judge_loads_with_the_right_heads():
    judge = load_judge("glyphs")
    assert [name for name, _ in judge.cfg.heads] == ["digit"]
    assert load_judge("shapes").cfg.heads == judge_config("shapes").heads
    with pytest.raises(ValueError, match="judges exist for glyphs, mnist, fashion-mnist, shapes"):
        judge_config("cats")
    with pytest.raises(ValueError, match="1 channel"):
        judge_outputs(torch.rand(2, 3, 28, 28), "glyphs")


@pytest.fixture(scope="module")
def held_out_glyphs():
    return glyph_digits(n_train=0, n_test=500, seed=777)


def test_scores_order_real_degraded_noise(held_out_glyphs):
    x = held_out_glyphs.x_test
    g = torch.Generator().manual_seed(0)
    levels = {
        "real": x,
        "light blur": F.avg_pool2d(x, 3, 1, 1),
        "heavy blur": F.avg_pool2d(x, 5, 1, 2),
        "noise": torch.rand(x.shape, generator=g),
    }
    scores = {k: judge_samples(v, labels=held_out_glyphs.y_test) for k, v in levels.items()}
    assert scores["real"]["recognisability"] >= 0.95 and scores["real"]["class_accuracy"] >= 0.97
    assert scores["real"]["coverage"] >= 0.95 and scores["real"]["precision"] >= 0.75
    assert scores["noise"]["recognisability"] <= 0.02 and scores["noise"]["coverage"] <= 0.1
    fd = [scores[k]["frechet"] for k in levels]
    assert fd == sorted(fd), fd
    rec = [scores[k]["recognisability"] for k in levels]
    assert rec == sorted(rec, reverse=True), rec


def test_digit_judge_rejects_every_kind_of_junk(held_out_glyphs):
    from course.judge import junk_test_set

    junk = junk_test_set(held_out_glyphs.x_test)
    assert set(junk) == {"noise", "blobs", "blurred averages", "grey shapes", "half-erased"}
    for kind, x in junk.items():
        assert x.shape == held_out_glyphs.x_test.shape and 0 <= x.min() and x.max() <= 1, kind
        share = recognisability(judge_outputs(x)[1]["digit"])
        assert share <= 0.05, (kind, share)  # at most 5 % of junk is called a recognisable digit


def test_shapes_judge_reads_every_attribute():
    ds = shapes_dataset(n_train=0, n_test=300, seed=777)
    _, probs = judge_outputs(ds.x_test, "shapes")
    for name in ATTRIBUTES:
        acc = (probs[name].argmax(-1) == ds.attrs_test[name]).float().mean().item()
        assert acc >= 0.97, (name, acc)
    noise = judge_samples(torch.rand(300, 3, 32, 32), "shapes")
    real = judge_samples(ds.x_test, "shapes")
    assert real["recognisability"] >= 0.95 and noise["recognisability"] <= 0.05
    assert real["frechet"] < noise["frechet"]


def test_shapes_judge_rejects_every_kind_of_junk_and_keeps_real_shapes():
    from course.judge import shapes_junk_test_set

    junk = shapes_junk_test_set(n=200)
    assert set(junk) == {"noise", "blobs", "blurred averages", "grey shapes", "colourless shapes",
                         "half-erased shapes", "two shapes"}
    for kind, x in junk.items():
        assert x.shape == (200, 3, 32, 32) and 0 <= x.min() and x.max() <= 1, kind
        share = recognisable_share(x, "shapes")
        assert share <= 0.05, (kind, share)  # at most 5 % of junk is called a recognisable shape
    real = shapes_dataset(n_train=0, n_test=500, seed=777).x_test
    assert recognisable_share(real, "shapes") >= 0.95  # measured 0.996 (0.985 on 2,000): a broken judge falls far below
