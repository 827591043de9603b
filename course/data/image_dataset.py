"""ImageDataset: the train and test tensors of one data set, as every loader in course.data returns them.

Taught in 00_start_here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Return images in [0, 1] rescaled to [-1, 1]: centred inputs train faster, and diffusion works in this range."""
    return x * 2 - 1


def from_signed(x: torch.Tensor) -> torch.Tensor:
    """Return a model's output in [-1, 1] as images in [0, 1] (clamped), on the CPU."""
    return ((x.cpu() + 1) / 2).clamp(0, 1)


@dataclass
class ImageDataset:
    """Train and test tensors of one data set: images (N, C, H, W) floats in [0, 1], labels (N,)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.name!r}: train {tuple(self.x_train.shape)}, test {tuple(self.x_test.shape)}, "
            f"{len(self.class_names)} classes)"
        )

    def images_of(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return training images (N, C, H, W) of the classes in `labels` (N,), picked at random, none twice."""
        x = torch.empty(len(labels), *self.x_train.shape[1:])
        for c in labels.unique().tolist():
            wanted = torch.nonzero(labels == c)[:, 0]
            pool = torch.nonzero(self.y_train == c)[:, 0]  # the training images of class c
            if len(pool) < len(wanted):
                raise ValueError(f"{self.name} has {len(pool)} training images of class {self.class_names[c]!r}, "
                                 f"not {len(wanted)}")
            x[wanted] = self.x_train[pool[torch.randperm(len(pool), generator=generator)[: len(wanted)]]]
        return x
