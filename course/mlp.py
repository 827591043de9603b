"""A multilayer perceptron from scratch: linear layers, ReLU and softmax cross-entropy, each with its
backward written by hand beside its forward, and the MLP built from them.

Taught in 02_neural_network. The tests check every forward against PyTorch (nn.Linear,
F.cross_entropy) and every hand-written backward against autograd. Training uses autograd
through `course.train.fit`; `hand_gradients` shows that backpropagation by hand gives the same
gradients.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Return x @ weight.T + bias: inputs (B, n_in), weight (n_out, n_in), bias (n_out,) -> (B, n_out)."""
    return x @ weight.T + bias


def linear_backward(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (grad_x, grad_weight, grad_bias) of a linear layer, given dL/d(output) (B, n_out) and its input x (B, n_in)."""
    grad_x = grad_out @ weight  # (B, n_out) @ (n_out, n_in) -> (B, n_in)
    grad_weight = grad_out.T @ x  # (n_out, B) @ (B, n_in) -> (n_out, n_in): summed over the batch
    grad_bias = grad_out.sum(0)  # (n_out,)
    return grad_x, grad_weight, grad_bias


def relu_backward(grad_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Return dL/dx of relu(x) = max(x, 0): the incoming gradient where x > 0, zero elsewhere."""
    return grad_out * (x > 0)


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Return log softmax over the last dim, computed stably by subtracting the largest logit first."""
    shifted = logits - logits.max(dim=-1, keepdim=True).values  # exp() of these never overflows
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Return the probabilities softmax(logits) over the last dim (each row sums to 1)."""
    return log_softmax(logits).exp()


def softmax_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy -log p(true class) of logits (B, n_classes) and labels (B,): a 0-d tensor."""
    return -log_softmax(logits)[torch.arange(len(y)), y].mean()


def softmax_cross_entropy_backward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return dL/d(logits) of the mean softmax cross-entropy: (softmax - one_hot) / B, shape (B, n_classes)."""
    grad = softmax(logits)
    grad[torch.arange(len(y)), y] -= 1
    return grad / len(y)


class Linear(nn.Module):
    """A fully connected layer y = x W^T + b, initialised like nn.Linear (uniform in +-1/sqrt(n_in))."""

    def __init__(self, n_in: int, n_out: int, generator: torch.Generator | None = None):
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter((torch.rand(n_out, n_in, generator=generator) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(n_out, generator=generator) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_forward(x, self.weight, self.bias)

    def backward(self, x: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return dL/dx and the parameter gradients {'weight', 'bias'}, given the input x and dL/d(output)."""
        grad_x, grad_weight, grad_bias = linear_backward(grad_out, x, self.weight.detach())
        return grad_x, {"weight": grad_weight, "bias": grad_bias}


class ReLU(nn.Module):
    """The activation max(x, 0), elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(0)

    def backward(self, x: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return dL/dx and no parameter gradients (ReLU has no parameters)."""
        return relu_backward(grad_out, x), {}


@dataclass
class MLPConfig:
    """Everything that decides the trained MLP: shape, training schedule and seed."""

    n_in: int = 28 * 28
    hidden: tuple[int, ...] = (256, 128)
    n_classes: int = 10
    n_epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3  # the peak of the one-cycle schedule (Adam)
    weight_decay: float = 0.0  # AdamW with no weight decay is Adam
    seed: int = 0


class MLP(nn.Module):
    """A multilayer perceptron: flatten, then (Linear, ReLU) for each hidden width, then a Linear to the logits."""

    def __init__(self, cfg: MLPConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MLPConfig()
        g = torch.Generator().manual_seed(cfg.seed)  # the same initial weights for the same config
        widths = [cfg.n_in, *cfg.hidden]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers += [Linear(n_in, n_out, g), ReLU()]
        layers.append(Linear(widths[-1], cfg.n_classes, g))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (B, n_classes) for images (B, C, H, W) or flat inputs (B, n_in)."""
        return self.layers(x.flatten(1))  # (B, C, H, W) -> (B, C*H*W)

    def forward_keeping_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the logits and the input of every layer (what the backward pass needs)."""
        inputs = []
        h = x.flatten(1)  # (B, n_in)
        for layer in self.layers:
            inputs.append(h)
            h = layer(h)
        return h, inputs

    def backward(self, inputs: list[torch.Tensor], grad_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return every parameter's gradient by backpropagation, named like `named_parameters()`."""
        grads = {}
        grad = grad_logits  # (B, n_classes)
        for i in reversed(range(len(self.layers))):  # the chain rule, last layer first
            grad, param_grads = self.layers[i].backward(inputs[i], grad)
            grads.update({f"layers.{i}.{name}": g for name, g in param_grads.items()})
        return grads


@torch.no_grad()
def hand_gradients(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    """Return the softmax cross-entropy loss of `model` on (x, y) and every parameter's gradient, all by hand."""
    logits, inputs = model.forward_keeping_inputs(x)
    loss = softmax_cross_entropy(logits, y)
    return loss.item(), model.backward(inputs, softmax_cross_entropy_backward(logits, y))
