"""Recurrent cells from scratch: a vanilla RNN cell, the LSTM cell and the convolutional LSTM cell.

Taught in 06_lstm. The LSTM cell keeps PyTorch's parameter layout (`weight_ih` (4H, I), `weight_hh`
(4H, H), gates in the order i, f, g, o), so its weights can be copied from `torch.nn.LSTMCell`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
              bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the new hidden and cell states (h, c), each (B, H), after one LSTM step (Hochreiter & Schmidhuber 1997)."""
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (B, 4H): all four gates in one product
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H), PyTorch's order: input, forget, candidate, output
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)  # gates in (0, 1)
    g = torch.tanh(g)  # candidate values in (-1, 1)
    c = f * c + i * g  # (B, H): keep part of the old memory, write part of the new
    h = o * torch.tanh(c)  # (B, H): show part of the squashed memory
    return h, c


class LSTMCell(nn.Module):
    """An LSTM cell written out gate by gate; `forward(x, state)` returns (h, c), each (B, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1 / math.sqrt(hidden_size)  # PyTorch's initialisation: uniform in +-1/sqrt(H)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Return (h, c) after reading `x` (B, input_size); `state` None starts from zeros."""
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"LSTMCell expects x of shape (B, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            zeros = x.new_zeros(len(x), self.hidden_size)  # (B, H)
            state = (zeros, zeros)
        return lstm_cell(x, *state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class RNNCell(nn.Module):
    """A vanilla (Elman) RNN cell, h = tanh(W_ih x + W_hh h + b); `forward(x, h)` returns the new h (B, H)."""

    def __init__(self, input_size: int, hidden_size: int, recurrent_scale: float = 1.0):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.randn(hidden_size, input_size) / math.sqrt(input_size))
        # An orthogonal matrix times `recurrent_scale`: every direction of h is stretched by exactly
        # that factor per step, so the scale alone decides whether gradients shrink or grow.
        q, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size))
        self.weight_hh = nn.Parameter(q * recurrent_scale)
        self.bias = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Return the new hidden state (B, H) after reading `x` (B, input_size)."""
        if h is None:
            h = x.new_zeros(len(x), self.hidden_size)  # (B, H)
        return torch.tanh(x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias)


def input_gradient_norms(cell: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return (T,) norms of d(loss)/d(x_t) for a loss on the last hidden state, for inputs x (B, T, I).

    Entry t says how much the input t steps before the end can still change what the cell outputs
    at the end: the signal a gradient step has for learning a long-range dependency.
    """
    x = x.detach().clone().requires_grad_(True)
    state = None
    for t in range(x.shape[1]):
        state = cell(x[:, t], state)
    h = state[0] if isinstance(state, tuple) else state  # (B, H)
    h.pow(2).sum().backward()
    return x.grad.norm(dim=(0, 2)).flip(0)  # (T,): index 0 = the last input, T-1 = the first


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al. 2015): gates are convolutions, the states are feature maps.

    `forward(x, state)` reads x (B, C_in, H, W) and returns (h, c), each (B, hidden_channels, H, W).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that the maps keep their size, got {kernel_size}")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        # One convolution computes all four gates from [x, h], as one matrix product does in LSTMCell.
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():
            self.gates.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)  # forget gate open at first

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return zero states (h, c), each (B, hidden_channels, H, W), for an input like x."""
        zeros = x.new_zeros(len(x), self.hidden_channels, *x.shape[-2:])
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Return (h, c), each (B, hidden_channels, H, W); `state` None starts from zeros."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvLSTMCell expects x of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, c = state if state is not None else self.init_state(x)
        return conv_lstm_cell(x, h, c, self.gates.weight, self.gates.bias)


def conv_lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the new (h, c), each (B, hidden, H, W), after one ConvLSTM step (eq. 3 of Shi et al. 2015, no peepholes).

    `weight` (4 * hidden, C_in + hidden, k, k) convolves [x, h] into the four gates, in the order i, f, g, o.
    """
    gates = F.conv2d(torch.cat([x, h], dim=1), weight, bias, padding=weight.shape[-1] // 2)  # (B, 4 * hidden, H, W)
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, hidden, H, W)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the same update as lstm_cell, per pixel
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c
