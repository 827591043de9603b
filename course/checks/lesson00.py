"""Exercise check of 00_start_here: the mean image of each class."""
from __future__ import annotations

from typing import Callable

import torch

from course.checks.core import Hint, exercise_check, expect_close, expect_shape, expect_tensor


def reference_class_means(x: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Return the mean image of each class, shape (n_classes, C, H, W) (zeros for an empty class)."""
    out = torch.zeros(n_classes, *x.shape[1:])
    for c in range(n_classes):
        if (y == c).any():
            out[c] = x[y == c].mean(0)
    return out


@exercise_check
def check_class_means(fn: Callable) -> None:
    """Check `fn(x, y, n_classes)` returns the mean image of each class (00_start_here)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 4, 4, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 2])
    got = expect_tensor(fn(x, y, 3))
    want = reference_class_means(x, y, 3)
    if got.shape == want.shape[1:] or got.shape == (3,):
        raise Hint(f"got shape {tuple(got.shape)}: you averaged over too many dimensions. "
                   "Average over the images of one class only: x[y == c].mean(dim=0)")
    expect_shape(got, tuple(want.shape), "the class means")
    counts = torch.bincount(y, minlength=3).double()
    sums = torch.stack([x[y == c].sum(0) for c in range(3)])
    if torch.allclose(got.double(), sums.double(), atol=1e-5):
        raise Hint("these are sums, not means: divide each class's sum by its number of images "
                   f"(here {counts.int().tolist()})")
    if torch.allclose(got[0], got[1]) and torch.allclose(got[1], got[2]):
        raise Hint("every class got the same image: select the images of one class with x[y == c]")
    expect_close(got, want, "the class means")
