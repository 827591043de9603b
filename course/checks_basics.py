"""Exercise checks for lessons 01-03 (learning from data, a neural network, preparing data).

Taught in 01_learning_from_data, 02_neural_network and 03_data. Each `check_<exercise>(fn)` runs
the learner's function on small inputs, compares it with the reference and names the usual
mistakes. The `reference_*` functions are the answers later cells of lesson 01 use.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course.checks import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor


def _close(a, b, atol: float = 1e-5) -> bool:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=1e-4)


# ---------------------------------------------------------------- 01_learning_from_data

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
    if _close(dw, -want_w) and _close(db, -want_b):
        raise Hint("the sign is flipped: use error = y_hat - y (prediction minus target); the gradient points uphill")
    if _close(dw, want_w / 2) and _close(db, want_b / 2):
        raise Hint("half the right size: the derivative of error**2 is 2 * error")
    if _close(dw, want_w * len(x)) and _close(db, want_b * len(x)):
        raise Hint("too big by the number of points: the loss is a mean, so average with .mean() instead of .sum()")
    if _close(dw, want_b) and _close(db, want_w):
        raise Hint("dw and db are swapped: return dw first, then db")
    if _close(dw, want_b):
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
    if _close(got, want.flip(1)):
        raise Hint("the columns are in reverse order: column k should hold x**k, starting with x**0 = 1")
    expect_close(got, want, "the features")
    expect_shape(fn(x, 1), (5, 2), "the features for degree 1")


# ---------------------------------------------------------------- 02_neural_network

@exercise_check
def check_relu_backward(fn: Callable) -> None:
    """Check `fn(grad_out, x)` returns dL/dx of relu(x): grad_out where x > 0, else 0 (02)."""
    x = torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0], [1.0, -1.0, 2.0, 0.0, -3.0]])
    grad_out = torch.tensor([[0.1, -0.2, 0.3, -0.4, 0.5], [-0.6, 0.7, 0.8, -0.9, 1.0]])
    want = grad_out * (x > 0)
    got = expect_tensor(fn(grad_out, x))
    expect_shape(got, tuple(x.shape), "dL/dx")
    if _close(got, (x > 0).float()):
        raise Hint("this is relu's own slope (0 or 1); multiply it by the incoming gradient grad_out (the chain rule)")
    if _close(got, grad_out.clamp_min(0)):
        raise Hint("you applied relu to the gradient; instead keep grad_out where the *input* x was positive")
    if _close(got, grad_out * x.clamp_min(0)):
        raise Hint("relu's slope is 1 where x > 0 (not x itself): use grad_out * (x > 0)")
    if _close(got, grad_out * (x >= 0)):
        raise Hint("at x == 0 the gradient should be 0 (as in PyTorch): use x > 0, not x >= 0")
    expect_close(got, want, "dL/dx")


@exercise_check
def check_softmax_cross_entropy(fn: Callable) -> None:
    """Check `fn(logits, y)` returns the mean cross-entropy, equal to F.cross_entropy and stable for huge logits (02)."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 5, generator=g) * 2
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    want = F.cross_entropy(logits, y)
    got = expect_tensor(fn(logits, y))
    if got.shape == (6,):
        raise Hint("you returned one loss per row: average them with .mean() to get one number")
    if got.shape == (6, 6):
        raise Hint("shape (6, 6): pick each row's own label with log_probs[torch.arange(len(y)), y], not log_probs[:, y]")
    expect(got.numel() == 1, f"the loss should be one number, got shape {tuple(got.shape)}")
    got = got.reshape(())
    if _close(got, -want, 1e-4):
        raise Hint("the sign is flipped: the loss is MINUS the log-probability of the true class (it is >= 0)")
    if _close(got, want * len(y), 1e-4):
        raise Hint("too big by the batch size: average over the rows with .mean() instead of .sum()")
    expect_close(got, want, "the loss", atol=1e-4)
    huge = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 800.0, 10.0]])
    got_huge = expect_tensor(fn(huge, torch.tensor([2, 1])))
    if not torch.isfinite(got_huge).all():
        raise Hint("with logits like 1000, exp() overflows to inf: subtract each row's largest logit before exp() "
                   "(softmax does not change, the numbers stay small)")
    expect_close(got_huge.reshape(()), torch.tensor(1000.0), "the loss for logits [[1000, 0, -1000], [0, 800, 10]]", atol=1e-2)


@exercise_check
def check_train_step(fn: Callable) -> None:
    """Check `fn(model, xb, yb, loss_fn, opt)` does one training step and returns the loss as a float (02)."""
    g = torch.Generator().manual_seed(3)
    xb, yb = torch.randn(8, 4, generator=g), torch.randint(3, (8,), generator=g)
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 4, generator=g))
        model.bias.zero_()
    reference = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    ref_losses, ref_weights = [], []
    for _ in range(2):
        loss = F.cross_entropy(reference(xb), yb)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
        ref_weights.append(reference.weight.detach().clone())
    before = model.weight.detach().clone()
    got = fn(model, xb, yb, F.cross_entropy, opt)
    if torch.equal(model.weight.detach(), before):
        raise Hint("the weights did not change: after loss.backward() call opt.step() "
                   "(and call opt.zero_grad() before backward, not between backward and step)")
    expect(got is not None, "your function returned None: return the loss as a number, `return loss.item()`")
    expect(isinstance(got, float), f"return the loss as a Python float with loss.item(), not a {type(got).__name__} "
                                   "(a tensor would keep the whole graph alive)")
    expect(abs(got - ref_losses[0]) < 1e-5, f"you returned {got:.5f}, but the loss before the step was {ref_losses[0]:.5f}: "
                                            "return the loss you computed on this batch")
    expect_close(model.weight.detach(), ref_weights[0], "the weights after one step")
    fn(model, xb, yb, F.cross_entropy, opt)
    if not torch.allclose(model.weight.detach(), ref_weights[1], atol=1e-6):
        raise Hint("one step is right but two steps are not: gradients add up across backward() calls, "
                   "so call opt.zero_grad() before loss.backward() in every step")


# ---------------------------------------------------------------- 03_data

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
    if _close(std, x.var(dim=(0, 2, 3)), 1e-4):
        raise Hint("that is the variance: the standard deviation is its square root")
    expect_close(std, x.std(dim=(0, 2, 3)), "the std", atol=1e-3, rtol=1e-2)  # with or without Bessel's correction


@exercise_check
def check_rotation_theta(fn: Callable) -> None:
    """Check `fn(degrees)` returns (N, 2, 3) affine matrices that rotate anticlockwise by `degrees` (03)."""
    from course.augment import rotation_theta

    degrees = torch.tensor([0.0, 90.0, 30.0, -45.0])
    want = rotation_theta(degrees)
    got = expect_tensor(fn(degrees))
    if tuple(got.shape) == (4, 2, 2):
        raise Hint("shape (N, 2, 2): add the third column of zeros (the translation) so each matrix is 2 x 3")
    expect_shape(got, (4, 2, 3), "theta for 4 angles")
    if _close(got, rotation_theta(degrees * 180 / torch.pi), 1e-4):
        raise Hint("torch.cos and torch.sin take radians: convert with degrees * math.pi / 180")
    if _close(got, rotation_theta(-degrees), 1e-4):
        raise Hint("this rotates clockwise: the top row should be [cos a, -sin a, 0] and the bottom row [sin a, cos a, 0]")
    expect_close(got, want, "theta", atol=1e-5)
