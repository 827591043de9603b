"""Exercise checks of 10_limits: a class's share in samples, the nearest-neighbour search for copies, the watermark's z-score.

Taught in 10_limits. Each `check_<exercise>(fn)` runs the learner's function on small inputs, compares it
with the package's version and names the usual mistakes.
"""
from __future__ import annotations

from typing import Callable

import torch

from course.bias import class_shares
from course.checks.core import Hint, exercise_check, expect, expect_close, expect_tensor, same_values
from course.memorise import nearest_neighbours
from course.watermark import correlation_z


def _probs() -> torch.Tensor:
    """Judge probabilities (40, 10) with known answers: 20 confident 3s, 4 confident 7s, 6 unsure 7s, 10 confident 1s."""
    p = torch.full((40, 10), 0.01)
    for rows, label, top in [(range(0, 20), 3, 0.95), (range(20, 24), 7, 0.95), (range(24, 30), 7, 0.5),
                             (range(30, 40), 1, 0.95)]:
        for r in rows:
            p[r, label] = top
    return p / p.sum(1, keepdim=True)


def _as_number(got) -> float:
    if got is None:
        raise Hint("your function returned None: did you forget `return`?")
    if isinstance(got, torch.Tensor):
        expect(got.numel() == 1, f"return one number, got a tensor of shape {tuple(got.shape)}")
        got = got.item()
    expect(isinstance(got, (int, float)), f"return a number, got {type(got).__name__}")
    return float(got)


@exercise_check
def check_minority_share(fn: Callable) -> None:
    """Check `fn(probs, majority, minority)` returns the minority's share among samples confidently read as either class."""
    probs = _probs()
    got = _as_number(fn(probs, 3, 7))
    want = class_shares(probs, (3, 7))[7]  # 4 / 24
    if abs(got - 100 * want) < 1e-6:
        raise Hint("that is a percentage: return a share between 0 and 1")
    if abs(got - class_shares(probs, (3, 7))[3]) < 1e-6:
        raise Hint("that is the majority's share: count the samples read as `minority`")
    if abs(got - 10 / 30) < 1e-6:
        raise Hint("you counted unsure samples too (probability 0.5): keep only those the judge reads with "
                   "probability >= 0.9")
    if abs(got - 4 / 40) < 1e-6 or abs(got - 10 / 40) < 1e-6:
        raise Hint("you divided by every sample; divide by the samples confidently read as the majority or the "
                   "minority class (unreadable ones and other digits are neither)")
    if abs(got - 4 / 34) < 1e-6:
        raise Hint("you divided by every confident sample, including those read as other digits (here 1s): "
                   "divide by the confident majority and minority samples only")
    expect(abs(got - want) < 1e-6, f"got {got:.4f}, expected {want:.4f} (4 confident 7s among 24 confident 3s and 7s)")


@exercise_check
def check_nearest_training_image(fn: Callable) -> None:
    """Check `fn(samples, train)` returns (distance, index) of each sample's nearest training image in Euclidean distance."""
    g = torch.Generator().manual_seed(10)
    train = torch.rand(50, 1, 4, 4, generator=g)
    samples = torch.cat([train[[7, 21]] + 0.01 * torch.randn(2, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)])
    out = fn(samples, train)
    expect(isinstance(out, (tuple, list)) and len(out) == 2, "return two tensors: (distance, index)")
    dist, idx = (expect_tensor(t, name) for t, name in zip(out, ("the distance", "the index")))
    want_dist, want_idx = nearest_neighbours(samples, train)
    expect(dist.shape == (7,) and idx.shape == (7,), f"return one distance and one index per sample, shape (7,); got "
           f"{tuple(dist.shape)} and {tuple(idx.shape)}")
    if same_values(dist, want_dist**2, atol=1e-4):
        raise Hint("those are squared distances: take the square root (or use torch.cdist)")
    _, far_idx = torch.cdist(samples.flatten(1), train.flatten(1)).max(1)
    if torch.equal(idx.long(), far_idx):
        raise Hint("that is the farthest training image: take the minimum distance, not the maximum")
    if same_values(dist, torch.cdist(samples.flatten(1), train.flatten(1), p=1).min(1).values, atol=1e-4):
        raise Hint("that is the L1 (sum of absolute differences) distance; use the Euclidean one, sqrt(sum of squares)")
    expect(idx[0].item() == 7 and idx[1].item() == 21, f"the first two samples are near-copies of training images 7 and 21; "
           f"your indices are {idx[0].item()} and {idx[1].item()}")
    expect(torch.equal(idx.long(), want_idx), "some indices are wrong: index the training image with the smallest distance")
    expect_close(dist.float(), want_dist, "the distances", atol=1e-4)
    many = torch.rand(1200, 1, 4, 4, generator=g)  # more samples than one batch of the reference
    d_many, i_many = fn(many, train)
    expect(torch.equal(i_many.long(), nearest_neighbours(many, train)[1]), "wrong indices on a batch of 1,200 samples")


@exercise_check
def check_watermark_z(fn: Callable) -> None:
    """Check `fn(x, key)` returns one z-score per image: sum((x - mean) * key) / (std * sqrt(N))."""
    g = torch.Generator().manual_seed(11)
    key = (2.0 * torch.randint(0, 2, (3, 8, 8), generator=g) - 1)
    x = 0.5 + 0.2 * torch.rand(6, 3, 8, 8, generator=g)
    x[:3] += 0.05 * key  # three marked images
    got = expect_tensor(fn(x, key))
    want = correlation_z(x, key)
    expect(got.numel() == 6, f"return one z-score per image, shape (6,); got shape {tuple(got.shape)}")
    got = got.reshape(6)
    r = x.flatten(1)
    n = r.shape[1]
    no_mean = (r @ key.flatten()) / (r.std(1) * n**0.5)
    if same_values(got, no_mean, atol=1e-4):
        raise Hint("subtract each image's mean first: otherwise its brightness times the key's small imbalance of +1s "
                   "and -1s counts as correlation")
    if same_values(got, want / n**0.5, atol=1e-4):
        raise Hint("that is the correlation coefficient (you divided by N): the z-score divides by sqrt(N), "
                   "N = numbers per image")
    if same_values(got, want * n**0.5, atol=1e-4):
        raise Hint("divide by sqrt(N) as well: the sum of N unrelated unit-variance terms has standard deviation sqrt(N)")
    if same_values(got, want * (r - r.mean(1, keepdim=True)).std(1), atol=1e-4):
        raise Hint("divide by the image's standard deviation too: the sum's spread grows with the image's contrast")
    if same_values(got, want * (r - r.mean(1, keepdim=True)).std(1) ** -1, atol=1e-4):
        raise Hint("divide by the standard deviation, not the variance")
    if same_values(got, -want, atol=1e-4):
        raise Hint("the sign is flipped: a marked image has a positive correlation with its key")
    expect_close(got, want, "the z-scores", atol=1e-3)
