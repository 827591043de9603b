"""Exercise checks of 03_data: exact duplicates, out-of-fold predictions (cross-validation), channel statistics, a
rotation matrix. `reference_out_of_fold_probs` is the answer later cells use."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values


@exercise_check
def check_find_exact_duplicates(fn: Callable) -> None:
    """Check `fn(x)` returns a bool mask (N,) marking each image that repeats an earlier one exactly (03)."""
    g = torch.Generator().manual_seed(4)
    base = (torch.randint(256, (5, 1, 4, 4), generator=g) / 255).float()
    x = base[[0, 1, 0, 2, 3, 1, 0, 4]].clone()  # copies: 2 and 6 repeat 0, 5 repeats 1
    x[7] = x[4] + 1 / 255  # almost image 4, but not exactly: not a duplicate
    want = torch.tensor([False, False, True, False, False, True, True, False])
    got = fn(x)
    expect(got is not None, "your function returned None: return the mask")
    if isinstance(got, (list, tuple)) or (isinstance(got, torch.Tensor) and got.dtype != torch.bool and len(got) != len(x)):
        raise Hint("return a bool mask with one entry per image (torch.zeros(len(x), dtype=torch.bool), then set "
                   "True at the copies), not a list of indices")
    got = expect_tensor(got)
    expect_shape(got, (len(x),), "the mask")
    got = got.bool()
    if torch.equal(got, torch.tensor([True, True, True, False, False, True, True, False])):
        raise Hint("you marked the originals too: keep the first time you see an image, mark only later copies")
    if got[7]:
        raise Hint("image 7 differs from image 4 by one grey level: only exact copies are duplicates here")
    expect(torch.equal(got, want), f"expected {want.int().tolist()}, got {got.int().tolist()} (1 = a copy of an earlier image)")


@exercise_check
def check_channel_mean_std(fn: Callable) -> None:
    """Check `fn(x)` returns the mean and standard deviation of each channel, each of shape (C,) (03)."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(20, 3, 6, 6, generator=g) * torch.tensor([1.0, 0.5, 2.0])[:, None, None] + torch.tensor([0.0, 1.0, -1.0])[:, None, None]
    got = fn(x)
    expect(isinstance(got, (tuple, list)) and len(got) == 2, "return two tensors: `return mean, std`")
    mean, std = (expect_tensor(v, name) for v, name in zip(got, ("the mean", "the std")))
    if mean.numel() == 1:
        raise Hint("one number for all channels: average over images, height and width only, dim=(0, 2, 3)")
    if tuple(mean.shape) == (3, 6, 6):
        raise Hint("shape (C, H, W) is one mean per pixel: average over height and width as well, dim=(0, 2, 3)")
    expect_shape(mean, (3,), "the mean")
    expect_shape(std, (3,), "the std")
    expect_close(mean, x.mean(dim=(0, 2, 3)), "the mean")
    if same_values(std, x.var(dim=(0, 2, 3)), 1e-4):
        raise Hint("that is the variance: the standard deviation is its square root")
    expect_close(std, x.std(dim=(0, 2, 3)), "the std", atol=1e-3, rtol=1e-2)  # with or without Bessel's correction


@exercise_check
def check_rotation_theta(fn: Callable) -> None:
    """Check `fn(degrees)` returns (N, 2, 3) affine matrices that rotate anticlockwise by `degrees` (03)."""
    from course.data.augment import rotation_theta

    degrees = torch.tensor([0.0, 90.0, 30.0, -45.0])
    want = rotation_theta(degrees)
    got = expect_tensor(fn(degrees))
    if tuple(got.shape) == (4, 2, 2):
        raise Hint("shape (N, 2, 2): add the third column of zeros (the translation) so each matrix is 2 x 3")
    expect_shape(got, (4, 2, 3), "theta for 4 angles")
    if same_values(got, rotation_theta(degrees * 180 / torch.pi), 1e-4):
        raise Hint("torch.cos and torch.sin take radians: convert with degrees * math.pi / 180")
    if same_values(got, rotation_theta(-degrees), 1e-4):
        raise Hint("this rotates clockwise: the top row should be [cos a, -sin a, 0] and the bottom row [sin a, cos a, 0]")
    expect_close(got, want, "theta", atol=1e-5)


def reference_out_of_fold_probs(x: torch.Tensor, y: torch.Tensor, fit_predict: Callable, n_folds: int,
                                generator: torch.Generator) -> torch.Tensor:
    """Return class probabilities (N, n_classes) for every image, each from a model that never saw it (k-fold).

    `fit_predict(x_fit, y_fit, x_judged)` trains a model on (x_fit, y_fit) and returns its logits for x_judged.
    """
    fold = torch.randperm(len(x), generator=generator) % n_folds  # (N,): the fold of each image
    probs = torch.zeros(len(x), int(y.max()) + 1)
    for k in range(n_folds):
        judged = fold == k
        logits = fit_predict(x[~judged], y[~judged], x[judged])  # trained on the other folds only
        probs[judged] = F.softmax(logits, dim=1)
    return probs


@exercise_check
def check_out_of_fold_probs(fn: Callable) -> None:
    """Check `fn(x, y, fit_predict, n_folds, generator)` judges every image once, by a model trained without it (03)."""
    n, n_folds = 12, 4
    x = torch.arange(n, dtype=torch.float32)[:, None]  # (N, 1): each "image" is its own id
    y = torch.arange(n) % 3
    calls = []

    def fit_predict(x_fit: torch.Tensor, y_fit: torch.Tensor, x_judged: torch.Tensor) -> torch.Tensor:
        calls.append(({int(v) for v in x_fit[:, 0]}, [int(v) for v in x_judged[:, 0]]))
        ids = x_judged[:, 0]
        return torch.stack([0.3 * ids, torch.zeros_like(ids), -0.2 * ids], dim=1)  # (n_judged, 3), different per image

    got = expect_tensor(fn(x, y, fit_predict, n_folds, torch.Generator().manual_seed(0)), "the probabilities")
    expect(len(calls) > 0, "fit_predict was never called: train one model per fold with it")
    expect(len(calls) == n_folds, f"fit_predict was called {len(calls)} times for {n_folds} folds: "
                                  "train one model per fold, `for k in range(n_folds)`")
    for trained_on, judged in calls:
        if trained_on & set(judged):
            raise Hint("an image was judged by a model that was trained on it, so its label looks right whatever it is: "
                       "train on the OTHER folds (fold != k) and judge fold k")
    judged_all = [i for _, judged in calls for i in judged]
    expect(sorted(judged_all) == list(range(n)),
           "every image must be judged exactly once: the folds split the images, fold k is judged by the k-th model "
           f"(images judged: {sorted(judged_all)})")
    for trained_on, judged in calls:
        expect(trained_on == set(range(n)) - set(judged),
               "train each model on ALL the images outside the fold it judges, x[fold != k]: more data, better judges")
    expect_shape(got, (n, 3), "the probabilities (one row per image, one column per class)")
    ids = x[:, 0]
    logits = torch.stack([0.3 * ids, torch.zeros_like(ids), -0.2 * ids], dim=1)
    if same_values(got, logits):
        raise Hint("these are logits: turn them into probabilities with F.softmax(logits, dim=1)")
    expect(torch.allclose(got.sum(1), torch.ones(n), atol=1e-4),
           "each row should be probabilities summing to 1: F.softmax(logits, dim=1), softmax over the classes")
    expect_close(got, F.softmax(logits, dim=1), "the probabilities (is each judged image's row put back in its own place, "
                                                "probs[fold == k] = ...?)")
