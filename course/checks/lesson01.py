"""Exercise checks of 01_learning_from_data: the gradient of a line fit, polynomial features.

Each `check_<exercise>(fn)` runs the learner's function on small inputs, compares it with the
reference and names the usual mistakes. The `reference_*` functions are the answers later cells use.
"""
from __future__ import annotations

from typing import Callable

import torch

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values


def reference_line_gradients(x: torch.Tensor, y: torch.Tensor, w: float, b: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (dL/dw, dL/db) of the mean squared error L = mean((w*x + b - y)**2), as 0-d tensors."""
    error = w * x + b - y  # (N,)
    return 2 * (error * x).mean(), 2 * error.mean()


def reference_poly_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """Return the columns x**0, x**1, ..., x**degree of the points x (N,), shape (N, degree + 1)."""
    return torch.stack([x**k for k in range(degree + 1)], dim=1)


@exercise_check
def check_line_gradients(fn: Callable) -> None:
    """Check `fn(x, y, w, b)` returns the gradient (dw, db) of the mean squared error (01)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(20, generator=g) * 2 - 1
    y = 1.5 * x - 0.3 + 0.1 * torch.randn(20, generator=g)
    w, b = 0.4, 0.7
    got = fn(x, y, w, b)
    expect(got is not None, "your function returned None: did you forget `return dw, db`?")
    expect(isinstance(got, (tuple, list)) and len(got) == 2, "return two numbers: `return dw, db`")
    dw, db = (torch.as_tensor(v).detach().double() for v in got)
    expect(dw.numel() == 1 and db.numel() == 1,
           f"dw and db should be single numbers, got shapes {tuple(dw.shape)} and {tuple(db.shape)}: "
           "average over the points with .mean()")
    dw, db = dw.reshape(()), db.reshape(())
    want_w, want_b = reference_line_gradients(x, y, w, b)
    if same_values(dw, -want_w) and same_values(db, -want_b):
        raise Hint("the sign is flipped: use error = y_hat - y (prediction minus target); the gradient points uphill")
    if same_values(dw, want_w / 2) and same_values(db, want_b / 2):
        raise Hint("half the right size: the derivative of error**2 is 2 * error")
    if same_values(dw, want_w * len(x)) and same_values(db, want_b * len(x)):
        raise Hint("too big by the number of points: the loss is a mean, so average with .mean() instead of .sum()")
    if same_values(dw, want_b) and same_values(db, want_w):
        raise Hint("dw and db are swapped: return dw first, then db")
    if same_values(dw, want_b):
        raise Hint("dw is missing the factor x: y_hat = w * x + b, so d y_hat / dw = x")
    expect_close(dw, want_w.double(), "dw")
    expect_close(db, want_b.double(), "db")


@exercise_check
def check_poly_features(fn: Callable) -> None:
    """Check `fn(x, degree)` returns the columns 1, x, x**2, ..., x**degree, shape (N, degree + 1) (01)."""
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 2.0])
    want = reference_poly_features(x, 3)
    got = expect_tensor(fn(x, 3))
    if tuple(got.shape) == (4, 5):
        raise Hint("shape (degree + 1, N): stack the columns along dim=1 so each row is one point")
    if tuple(got.shape) == (5, 3):
        raise Hint("3 columns for degree 3: include the constant column x**0 = 1 (it gives the model its offset)")
    expect_shape(got, (5, 4), "the features for 5 points and degree 3")
    if same_values(got, want.flip(1)):
        raise Hint("the columns are in reverse order: column k should hold x**k, starting with x**0 = 1")
    expect_close(got, want, "the features")
    expect_shape(fn(x, 1), (5, 2), "the features for degree 1")


# ---------------------------------------------------------------- 02_neural_network
