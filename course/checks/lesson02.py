"""Exercise checks of 02_neural_network: the backward passes of ReLU, of the linear layer and of the whole MLP,
softmax cross-entropy, one training step."""
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


@exercise_check
def check_linear_backward(fn: Callable) -> None:
    """Check `fn(grad_out, x, weight)` returns (grad_x, grad_weight, grad_bias) of y = x @ weight.T + b, as autograd does (02)."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 3, generator=g, requires_grad=True)
    weight = torch.randn(4, 3, generator=g, requires_grad=True)
    bias = torch.randn(4, generator=g, requires_grad=True)
    grad_out = torch.randn(5, 4, generator=g)
    (x @ weight.T + bias).backward(grad_out)  # autograd's answer
    try:
        got = fn(grad_out, x.detach(), weight.detach())
    except RuntimeError as err:
        if "shape" not in str(err):
            raise
        raise Hint(f"shapes do not fit ({err}): grad_out is (B, n_out), x (B, n_in), weight (n_out, n_in); "
                   "grad_x = grad_out @ weight and grad_weight = grad_out.T @ x") from None
    expect(got is not None, "your function returned None: end with `return grad_x, grad_weight, grad_bias`")
    expect(isinstance(got, (tuple, list)) and len(got) == 3, "return three tensors: grad_x, grad_weight, grad_bias")
    grad_x, grad_weight, grad_bias = (expect_tensor(v, name) for v, name in zip(got, ("grad_x", "grad_weight", "grad_bias")))
    if tuple(grad_x.shape) == (5, 4):
        raise Hint("grad_x has the shape of the output (B, n_out); it must have the input's shape (B, n_in): grad_out @ weight")
    expect_shape(grad_x, (5, 3), "grad_x (the input's shape, B x n_in)")
    if same_values(grad_x, grad_out @ weight.detach() * 0.2):
        raise Hint("grad_x is divided by the batch size: the 1/B of the mean loss is already inside grad_out")
    expect_close(grad_x, x.grad, "grad_x")
    if tuple(grad_weight.shape) == (3, 4):
        raise Hint("grad_weight has shape (n_in, n_out), the transpose of the weight: use grad_out.T @ x, shape (n_out, n_in)")
    if tuple(grad_weight.shape) == (5, 4, 3):
        raise Hint("grad_weight has one matrix per example: the weight is shared by the whole batch, so sum over it "
                   "(grad_out.T @ x does the sum)")
    expect_shape(grad_weight, (4, 3), "grad_weight (the weight's shape, n_out x n_in)")
    if same_values(grad_weight, weight.grad / 5):
        raise Hint("grad_weight is averaged over the batch: sum it instead (grad_out.T @ x); grad_out already holds the 1/B")
    expect_close(grad_weight, weight.grad, "grad_weight")
    if tuple(grad_bias.shape) == (5, 4):
        raise Hint("grad_bias has one row per example: the bias is shared by the whole batch, sum over it, grad_out.sum(0)")
    expect_shape(grad_bias, (4,), "grad_bias (n_out,)")
    if same_values(grad_bias, bias.grad / 5):
        raise Hint("grad_bias is averaged over the batch: sum it, grad_out.sum(0); grad_out already holds the 1/B")
    expect_close(grad_bias, bias.grad, "grad_bias")


@exercise_check
def check_mlp_backward(fn: Callable) -> str:
    """Check `fn(layers, inputs, grad_logits)` returns every parameter's gradient of a small MLP, as autograd does (02)."""
    from course.mlp import MLP, MLPConfig, softmax_cross_entropy_backward

    model = MLP(MLPConfig(n_in=6, hidden=(5, 4), n_classes=3, seed=1))
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(7, 6, generator=g), torch.tensor([0, 2, 1, 1, 0, 2, 2])
    logits, inputs = model.forward_keeping_inputs(x)
    F.cross_entropy(logits, y).backward()
    try:
        got = fn(model.layers, [h.detach() for h in inputs], softmax_cross_entropy_backward(logits.detach(), y))
    except RuntimeError as err:
        if "shape" not in str(err) and "size" not in str(err):
            raise
        raise Hint("shapes do not fit: go through the layers from the LAST to the first, "
                   "for i in reversed(range(len(layers))); the gradient of the logits belongs to the last layer, "
                   "and layer i gets its own input, inputs[i]") from None
    expect(got is not None, "your function returned None: end with `return grads`")
    expect(isinstance(got, dict), f"return a dict {{parameter name: gradient}}, got {type(got).__name__}")
    names = [name for name, _ in model.named_parameters()]
    missing = [name for name in names if name not in got]
    if missing and any(key.startswith("layers.") for key in got):
        raise Hint(f"no gradient for {missing}: every Linear layer has a weight and a bias, and each needs its gradient")
    expect(not missing, f"the keys should be named like model.named_parameters(), e.g. 'layers.0.weight'; "
                        f"you have {sorted(got)[:4]}: use f'layers.{{i}}.{{name}}'")
    for name, p in model.named_parameters():
        grad = expect_tensor(got[name], f"the gradient of {name}")
        expect_shape(grad, tuple(p.shape), f"the gradient of {name}")
    last = names[-2]  # layers.4.weight: right if the chain starts from grad_logits
    expect_close(got[last], dict(model.named_parameters())[last].grad, f"the gradient of {last} (the last layer)")
    if same_values(got["layers.0.weight"], torch.zeros_like(got["layers.0.weight"])):
        raise Hint("the first layer's gradient is zero: pass the gradient each layer returns on to the layer before it")
    for name, p in model.named_parameters():
        if not same_values(got[name], p.grad):
            raise Hint(f"{name} is wrong although the last layer is right: each layer must receive the gradient returned "
                       "by the layer AFTER it (grad, param_grads = layer.backward(inputs[i], grad)), "
                       "and layer i's input is inputs[i]")
    return "Backpropagation by hand, equal to autograd for every parameter."
