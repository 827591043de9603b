"""Exercise checks: run the learner's function on small inputs and print a specific ✓ or ✗ with a hint.

Taught in 00_start_here. Every check is a function `check_<exercise>(fn)` wrapped by
`exercise_check`; it never raises, so a notebook runs on with an exercise left blank.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch


class Hint(Exception):
    """A wrong answer, with what to look at."""


def expect(condition: bool, message: str) -> None:
    """Raise Hint(message) unless `condition` holds."""
    if not condition:
        raise Hint(message)


def expect_tensor(got, what: str = "your function's result") -> torch.Tensor:
    """Return `got` if it is a tensor; otherwise raise a Hint saying what it is instead."""
    if got is None:
        raise Hint(f"{what} is None: did you forget `return`?")
    expect(isinstance(got, torch.Tensor), f"{what} should be a torch.Tensor, got {type(got).__name__}")
    return got


def expect_shape(got: torch.Tensor, shape: tuple, what: str = "the result") -> None:
    """Raise a Hint when `got` does not have `shape`."""
    expect_tensor(got, what)
    expect(tuple(got.shape) == tuple(shape), f"{what} should have shape {tuple(shape)}, got {tuple(got.shape)}")


def expect_close(got: torch.Tensor, want: torch.Tensor, what: str = "the result", atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Raise a Hint when values differ, naming the first wrong position and both values."""
    expect_shape(got, tuple(want.shape), what)
    got, want = got.detach().double(), want.detach().double()
    bad = ~torch.isclose(got, want, atol=atol, rtol=rtol)
    if bad.any():
        i = tuple(int(v) for v in bad.nonzero()[0])
        raise Hint(f"{what} has wrong values: at index {i} you have {got[i].item():.5g}, expected {want[i].item():.5g} "
                   f"({int(bad.sum())} of {bad.numel()} entries differ)")


def exercise_check(check: Callable) -> Callable:
    """Wrap a check so that it prints ✓ or ✗ with a hint and returns True or False, never raising."""
    name = check.__name__.removeprefix("check_")

    @functools.wraps(check)
    def wrapper(fn: Callable, *args, **kwargs) -> bool:
        try:
            extra = check(fn, *args, **kwargs)
        except NotImplementedError:
            print(f"✗ {name}: not done yet. Replace `raise NotImplementedError()` with your code and run the cell again.")
            return False
        except Hint as hint:
            print(f"✗ {name}: {hint}")
            return False
        except Exception as err:  # the learner's code crashed: say where to look
            print(f"✗ {name}: your function raised {type(err).__name__}: {err}")
            return False
        print(f"✓ {name}: correct." + (f" {extra}" if isinstance(extra, str) else ""))
        return True

    return wrapper


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
