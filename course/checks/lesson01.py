"""Exercise checks of 01_learning_from_data: the gradient of a line fit, polynomial features, gradient descent by
hand and with autograd.

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


def reference_descend(phi: torch.Tensor, y: torch.Tensor, lr: float, n_steps: int) -> tuple[torch.Tensor, list[float]]:
    """Return the weights (D,) after `n_steps` of gradient descent on mean((phi @ w - y)**2) from w = 0, and the loss
    before each step."""
    w = torch.zeros(phi.shape[1], dtype=phi.dtype)
    losses = []
    for step in range(n_steps):
        error = phi @ w - y  # (N,)
        losses.append((error**2).mean().item())
        w = w - lr * 2 / len(y) * phi.T @ error  # the gradient 2/N Φᵀ(Φw - y), shape (D,)
    return w, losses


def reference_descend_autograd(phi: torch.Tensor, y: torch.Tensor, lr: float, n_steps: int) -> torch.Tensor:
    """Return the weights (D,) after `n_steps` of gradient descent from w = 0, with gradients from autograd."""
    w = torch.zeros(phi.shape[1], dtype=phi.dtype, requires_grad=True)
    for step in range(n_steps):
        loss = ((phi @ w - y) ** 2).mean()
        loss.backward()  # fills w.grad with dL/dw
        with torch.no_grad():  # the update is not part of the model: don't record it
            w -= lr * w.grad
        w.grad.zero_()  # .grad adds up across backward() calls
    return w.detach()


def _small_fit_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """Return (phi, y): 12 points, cubic features, for checking the descent exercises."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(12, generator=g) * 2 - 1
    y = torch.sin(2.0 * x) + 0.1 * torch.randn(12, generator=g)
    return reference_poly_features(x, 3), y


@exercise_check
def check_descend(fn: Callable) -> None:
    """Check `fn(phi, y, lr, n_steps)` runs gradient descent by hand and returns (w, losses) (01)."""
    phi, y = _small_fit_problem()
    got = fn(phi, y, 0.3, 5)
    expect(got is not None, "your function returned None: end with `return w, losses`")
    expect(isinstance(got, (tuple, list)) and len(got) == 2, "return two things: the weights and the list of losses")
    w, losses = got
    w = expect_tensor(w, "the weights")
    expect_shape(w, (4,), "the weights for 4 features")
    expect(isinstance(losses, (list, tuple)) and len(losses) == 5,
           f"losses should be a list with one loss per step (5 steps), got {type(losses).__name__}"
           + (f" of length {len(losses)}" if hasattr(losses, "__len__") else ""))
    want_w, want_losses = reference_descend(phi, y, 0.3, 5)
    expect(all(isinstance(v, (float, int)) or (isinstance(v, torch.Tensor) and v.numel() == 1) for v in losses),
           "each loss should be one number: append (error ** 2).mean().item()")
    losses = [float(v) for v in losses]
    if abs(losses[0] - (y**2).mean().item()) > 1e-5:
        raise Hint(f"the first loss should be the loss of the start w = 0, {(y**2).mean().item():.4f}; you have "
                   f"{losses[0]:.4f}: start from torch.zeros(phi.shape[1]) and record the loss before updating")
    if same_values(w, reference_descend(phi, y, -0.3, 5)[0]):
        raise Hint("the weights went uphill: subtract the gradient, w = w - lr * grad")
    if same_values(w, reference_descend(phi, y, 0.15, 5)[0]):
        raise Hint("each step is half as big as it should be: the gradient of error**2 carries a factor 2, 2/N Φᵀ(Φw - y)")
    if same_values(w, reference_descend(phi, y, 0.3 * len(y), 5)[0]):
        raise Hint("steps too big by N: the loss is a mean, so the gradient is 2/N Φᵀ(Φw - y), not 2 Φᵀ(Φw - y)")
    if same_values(w, reference_descend(phi, y, 0.3, 4)[0]) or same_values(w, reference_descend(phi, y, 0.3, 6)[0]):
        raise Hint("the number of updates is off by one: do exactly n_steps updates, for step in range(n_steps)")
    expect_close(w, want_w, "the weights after 5 steps", atol=1e-4)
    expect_close(torch.tensor(losses), torch.tensor(want_losses), "the losses", atol=1e-4)


@exercise_check
def check_descend_autograd(fn: Callable) -> None:
    """Check `fn(phi, y, lr, n_steps)` runs gradient descent with autograd's gradients (01)."""
    phi, y = _small_fit_problem()
    try:
        got = fn(phi, y, 0.3, 6)
    except RuntimeError as err:
        if "leaf Variable" in str(err):
            raise Hint("an in-place update of w was recorded by autograd: do it inside `with torch.no_grad():`") from None
        if "does not require grad" in str(err):
            raise Hint("after `w = w - lr * w.grad` under no_grad, w is a new tensor that autograd does not track: "
                       "update in place, `w -= lr * w.grad`") from None
        raise
    except (TypeError, AttributeError) as err:
        if "NoneType" not in str(err):
            raise
        raise Hint("w.grad is None: `w = w - lr * w.grad` outside no_grad makes w a computed tensor, which gets no .grad; "
                   "update the leaf in place inside `with torch.no_grad():`, `w -= lr * w.grad`") from None
    got = expect_tensor(got, "the weights")
    expect_shape(got, (4,), "the weights for 4 features")
    expect(not got.requires_grad, "return the weights without their graph: `return w.detach()`")
    want = reference_descend_autograd(phi, y, 0.3, 6)
    w = torch.zeros(4, requires_grad=True)  # the usual mistake: gradients never reset
    for step in range(6):
        ((phi @ w - y) ** 2).mean().backward()
        with torch.no_grad():
            w -= 0.3 * w.grad
    if same_values(got, w.detach(), 1e-4):
        raise Hint("the gradients add up across steps: call w.grad.zero_() after each update (.grad accumulates)")
    if same_values(got, torch.zeros(4)):
        raise Hint("the weights never moved: update them in place inside `with torch.no_grad():`, w -= lr * w.grad")
    if same_values(got, reference_descend_autograd(phi, y, -0.3, 6), 1e-4):
        raise Hint("the weights went uphill: subtract the gradient, w -= lr * w.grad")
    expect_close(got, want, "the weights after 6 steps", atol=1e-4)
    return "Autograd found the same gradients you wrote by hand."
