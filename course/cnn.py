"""A small convolutional classifier for digits: conv blocks, pooling, then one linear layer.

Taught in 04_cnn.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course.data.image_dataset import to_signed
from course.validate import require_images


@dataclass
class CNNConfig:
    """Everything that decides the trained CNN: shape, training schedule and seed."""

    channels: int = 1
    size: int = 28
    widths: tuple[int, ...] = (16, 32, 64)  # channels of each conv block; every block but the last halves H and W
    kernel_size: int = 3
    n_classes: int = 10
    n_epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3  # the peak of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay (Loshchilov & Hutter 2019)
    seed: int = 0


class CNN(nn.Module):
    """Conv blocks (conv, batch norm, ReLU, max-pool), global average pooling and a linear layer to the logits."""

    def __init__(self, cfg: CNNConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CNNConfig()
        with torch.random.fork_rng(devices=[]):  # the same initial weights for the same config, global RNG untouched
            torch.manual_seed(cfg.seed)
            self._build(cfg)

    def _build(self, cfg: CNNConfig) -> None:
        blocks, c_in = [], cfg.channels
        for i, c_out in enumerate(cfg.widths):
            layers = [nn.Conv2d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2),  # "same" padding
                      nn.BatchNorm2d(c_out), nn.ReLU()]
            if i < len(cfg.widths) - 1:
                layers.append(nn.MaxPool2d(2))  # (B, c_out, H/2, W/2)
            blocks.append(nn.Sequential(*layers))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, cfg.n_classes))  # (B, C) -> (B, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (B, n_classes) for images (B, C, H, W) in [0, 1]."""
        h = to_signed(x)  # centred inputs
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the output of every conv block for images x: a list of (B, C_i, H_i, W_i), in eval mode."""
        require_images(x, "images", self.cfg.channels)
        self.eval()
        maps, h = [], to_signed(x)
        for block in self.blocks:
            h = block(h)
            maps.append(h)
        return maps

    def layer_geometry(self) -> list[tuple[int, int]]:
        """Return (kernel_size, stride) of every conv and pooling layer in order, for course.conv.receptive_field."""
        out = []
        for module in self.blocks.modules():
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
                k, s = module.kernel_size, module.stride
                out.append((k[0] if isinstance(k, tuple) else k, s[0] if isinstance(s, tuple) else s))
        return out


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable numbers in a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
