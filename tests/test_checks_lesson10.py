"""Each check of lesson 10 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch

from course.checks import lesson10
from course.memorise import nearest_neighbours
from course.watermark import correlation_z
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_minority_share(capsys):
    def solution(probs, majority, minority, threshold=0.9):
        confident, label = probs.max(1)
        keep = confident >= threshold
        n_min = ((label == minority) & keep).sum()
        n_maj = ((label == majority) & keep).sum()
        return (n_min / (n_min + n_maj)).item()

    def unsure_too(probs, majority, minority):
        label = probs.argmax(1)
        return ((label == minority).sum() / ((label == minority) | (label == majority)).sum()).item()

    def over_all(probs, majority, minority):
        confident, label = probs.max(1)
        return (((label == minority) & (confident >= 0.9)).sum() / len(probs)).item()

    def over_confident(probs, majority, minority):
        confident, label = probs.max(1)
        keep = confident >= 0.9
        return (((label == minority) & keep).sum() / keep.sum()).item()

    assert_passes(lesson10.check_minority_share, solution, capsys)
    assert_not_done(lesson10.check_minority_share, capsys)
    assert_hints(lesson10.check_minority_share, {
        "percentage": lambda p, a, b: 100 * solution(p, a, b),
        "majority's share": lambda p, a, b: solution(p, b, a),
        "unsure samples": unsure_too,
        "divided by every sample": over_all,
        "other digits": over_confident,
        "return one number": lambda p, a, b: p.argmax(1) == b,
        "returned None": lambda p, a, b: None,
    }, capsys)


def test_nearest_training_image(capsys):
    def solution(samples, train, batch_size=500):
        train = train.flatten(1)
        dists, idxs = [], []
        for i in range(0, len(samples), batch_size):
            d = torch.cdist(samples[i:i + batch_size].flatten(1), train)
            dist, idx = d.min(1)
            dists.append(dist)
            idxs.append(idx)
        return torch.cat(dists), torch.cat(idxs)

    def squared(samples, train):
        d = ((samples.flatten(1)[:, None] - train.flatten(1)[None]) ** 2).sum(-1)
        return d.min(1)

    def farthest(samples, train):
        return torch.cdist(samples.flatten(1), train.flatten(1)).max(1)

    def l1(samples, train):
        return torch.cdist(samples.flatten(1), train.flatten(1), p=1).min(1)

    def wrong_dim(samples, train):
        d = torch.cdist(samples.flatten(1), train.flatten(1))
        return d.min(1).values, d.min(0).indices[: len(samples)]

    assert_passes(lesson10.check_nearest_training_image, solution, capsys)
    assert_passes(lesson10.check_nearest_training_image, nearest_neighbours, capsys)
    assert_not_done(lesson10.check_nearest_training_image, capsys)
    assert_hints(lesson10.check_nearest_training_image, {
        "squared distances": squared,
        "farthest": farthest,
        "L1": l1,
        "(distance, index)": lambda s, t: torch.cdist(s.flatten(1), t.flatten(1)).min(1).values,
        "one distance and one index per sample": lambda s, t: torch.cdist(s.flatten(1), t.flatten(1)).min(0),
        "near-copies": wrong_dim,
    }, capsys)


def test_watermark_z(capsys):
    def solution(x, key):
        r = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
        n = r.shape[1]
        return (r * key.flatten()).sum(1) / (r.std(1) * n ** 0.5)

    def no_mean(x, key):
        r = x.flatten(1)
        return (r * key.flatten()).sum(1) / (r.std(1) * r.shape[1] ** 0.5)

    def by_n(x, key):
        return solution(x, key) / x[0].numel() ** 0.5

    def no_sqrt_n(x, key):
        return solution(x, key) * x[0].numel() ** 0.5

    def no_std(x, key):
        r = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
        return (r * key.flatten()).sum(1) / r.shape[1] ** 0.5

    def by_var(x, key):
        r = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
        return (r * key.flatten()).sum(1) / (r.var(1) * r.shape[1] ** 0.5)

    assert_passes(lesson10.check_watermark_z, solution, capsys)
    assert_passes(lesson10.check_watermark_z, correlation_z, capsys)
    assert_not_done(lesson10.check_watermark_z, capsys)
    assert_hints(lesson10.check_watermark_z, {
        "subtract each image's mean": no_mean,
        "correlation coefficient": by_n,
        "divide by sqrt(N) as well": no_sqrt_n,
        "standard deviation too": no_std,
        "not the variance": by_var,
        "sign is flipped": lambda x, k: -solution(x, k),
        "one z-score per image": lambda x, k: solution(x, k).sum(),
    }, capsys)
