"""EMA: an exponential moving average of a model's weights (Polyak averaging).

Used first in 07_gan (the generator's averaged weights), explained in 08_diffusion; every generator that
samples from averaged weights uses it.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """An exponential moving average of a model's weights: smoother samples than the raw weights."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average a step towards the model's current weights."""
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p, 1 - self.decay)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)
