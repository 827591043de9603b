"""Exercise checks of 02_neural_network: ReLU's backward pass, softmax cross-entropy, one training step."""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values


@exercise_check
def check_relu_backward(fn: Callable) -> None:
    """Check `fn(grad_out, x)` returns dL/dx of relu(x): grad_out where x > 0, else 0 (02)."""
    x = torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0], [1.0, -1.0, 2.0, 0.0, -3.0]])
    grad_out = torch.tensor([[0.1, -0.2, 0.3, -0.4, 0.5], [-0.6, 0.7, 0.8, -0.9, 1.0]])
    want = grad_out * (x > 0)
    got = expect_tensor(fn(grad_out, x))
    expect_shape(got, tuple(x.shape), "dL/dx")
    if same_values(got, (x > 0).float()):
        raise Hint("this is relu's own slope (0 or 1); multiply it by the incoming gradient grad_out (the chain rule)")
    if same_values(got, grad_out.clamp_min(0)):
        raise Hint("you applied relu to the gradient; instead keep grad_out where the *input* x was positive")
    if same_values(got, grad_out * x.clamp_min(0)):
        raise Hint("relu's slope is 1 where x > 0 (not x itself): use grad_out * (x > 0)")
    if same_values(got, grad_out * (x >= 0)):
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
    if same_values(got, -want, 1e-4):
        raise Hint("the sign is flipped: the loss is MINUS the log-probability of the true class (it is >= 0)")
    if same_values(got, want * len(y), 1e-4):
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
