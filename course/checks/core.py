"""Exercise checks: run the learner's function on small inputs and print a specific ✓ or ✗ with a hint.

Taught in 00_start_here. Every check is a function `check_<exercise>(fn)` wrapped by
`exercise_check`; it never raises, so a notebook runs on with an exercise left blank. With
COURSE_STRICT_CHECKS=1 (set by `make test` for the solution notebooks) a failing check raises
instead, so a wrong answer in solutions/ fails the test suite.
"""
from __future__ import annotations

import functools
import os
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


def strict_checks() -> bool:
    """Return True when failing exercise checks must raise (COURSE_STRICT_CHECKS=1), as in the solutions' test run."""
    return os.environ.get("COURSE_STRICT_CHECKS") == "1"


def exercise_check(check: Callable) -> Callable:
    """Wrap a check so that it prints ✓ or ✗ with a hint and returns True or False.

    It never raises, except in strict mode (see `strict_checks`), where a ✗ raises AssertionError.
    """
    name = check.__name__.removeprefix("check_")

    @functools.wraps(check)
    def wrapper(fn: Callable, *args, **kwargs) -> bool:
        try:
            extra = check(fn, *args, **kwargs)
        except NotImplementedError:
            message = f"✗ {name}: not done yet. Replace `raise NotImplementedError()` with your code and run the cell again."
        except Hint as hint:
            message = f"✗ {name}: {hint}"
        except Exception as err:  # the learner's code crashed: say where to look
            message = f"✗ {name}: your function raised {type(err).__name__}: {err}"
        else:
            print(f"✓ {name}: correct." + (f" {extra}" if isinstance(extra, str) else ""))
            return True
        print(message)
        if strict_checks():
            raise AssertionError(f"strict checks (COURSE_STRICT_CHECKS=1): {message}")
        return False

    return wrapper


def own_rng(check: Callable) -> Callable:
    """Wrap a check so that it leaves torch's global random state as it found it: a notebook's later cells
    (model initialisation, training) draw from it, and must not depend on whether an exercise was checked."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)

    return wrapper


def same_values(a, b, atol: float = 1e-5) -> bool:
    """Return True when `a` and `b` have the same shape and values (within `atol`): for recognising a known mistake."""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=1e-4)
