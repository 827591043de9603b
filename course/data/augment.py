"""Data augmentation with affine grids (rotate, flip, zoom/crop, shift), and standardisation with training statistics.

Taught in 03_data. Every warp is one (2, 3) matrix per image, `theta`, that maps each output
pixel's coordinates to where it is read from in the input (F.affine_grid), followed by bilinear
sampling (F.grid_sample). Coordinates run from -1 to 1 across the image, x to the right, y down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course.validate import require_images


def rotation_theta(degrees: torch.Tensor) -> torch.Tensor:
    """Return (N, 2, 3) matrices that rotate images by `degrees` (N,) anticlockwise as seen on screen."""
    a = degrees * math.pi / 180
    cos, sin, zero = torch.cos(a), torch.sin(a), torch.zeros_like(a)
    return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # (N, 2, 3)


def affine_theta(degrees: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Return (N, 2, 3) matrices that flip (where `flip` is True), rotate, zoom (>1 crops in) and shift.

    Args:
        degrees: (N,) anticlockwise rotation.
        zoom: (N,) magnification; 1.25 shows the central 80% of the image, 0.8 shrinks it inside a border.
        shift: (N, 2) movement right and down, as a fraction of the image side.
        flip: (N,) bools, mirror left-right.
    """
    theta = rotation_theta(degrees)
    theta[:, :, :2] /= zoom[:, None, None]  # read from a smaller (zoom > 1) or larger region
    theta[:, :, 0] *= torch.where(flip, -1.0, 1.0)[:, None]  # mirror x before everything else
    theta[:, :, 2] = -2 * shift  # the image side spans 2 units; moving the image right reads from the left
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Return images (N, C, H, W) resampled through the affine matrices theta (N, 2, 3)."""
    require_images(x, "x")
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2) source coordinates
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Return the images rotated anticlockwise by `degrees`."""
    return warp(x, rotation_theta(torch.full((len(x),), float(degrees))))


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Return the images mirrored left-right (exact, no resampling)."""
    return x.flip(-1)


def zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Return the images magnified about their centre by `factor` (>1 crops in, <1 adds a border)."""
    n = len(x)
    return warp(x, affine_theta(torch.zeros(n), torch.full((n,), float(factor)), torch.zeros(n, 2), torch.zeros(n, dtype=torch.bool)))


def shift(x: torch.Tensor, right: float, down: float) -> torch.Tensor:
    """Return the images moved right and down by fractions of their side (empty space is filled with 0)."""
    n = len(x)
    return warp(x, affine_theta(torch.zeros(n), torch.ones(n), torch.tensor([[right, down]]).expand(n, 2),
                                torch.zeros(n, dtype=torch.bool)))


@dataclass
class AugmentConfig:
    """Ranges of the random augmentation: each image draws its own values uniformly within them."""

    degrees: float = 15.0  # rotation in [-degrees, degrees]
    zoom: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.1  # in [-shift, shift] of the side, both directions
    flip: float = 0.0  # probability of a left-right mirror (0 for digits: a mirrored 2 is not a 2)


def random_theta(n: int, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return (n, 2, 3) random affine matrices drawn from the ranges in `cfg`."""
    def uniform(lo: float, hi: float, shape=(n,)) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=generator)

    return affine_theta(uniform(-cfg.degrees, cfg.degrees), uniform(*cfg.zoom), uniform(-cfg.shift, cfg.shift, (n, 2)),
                        torch.rand(n, generator=generator) < cfg.flip)


def random_augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a randomly flipped, rotated, zoomed and shifted copy of each image (N, C, H, W)."""
    return warp(x, random_theta(len(x), cfg, generator).to(x.device))


class AugmentLoader:
    """Wrap a loader of (xb, yb) batches so that every batch is freshly augmented: `fit` can train on it unchanged."""

    def __init__(self, dl, cfg: AugmentConfig, seed: int = 0):
        self.dl, self.cfg = dl, cfg
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.dl)

    def __iter__(self):
        for xb, yb in self.dl:
            yield random_augment(xb, self.cfg, self.generator), yb


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the mean and standard deviation of each channel of images (N, C, H, W), each of shape (C,)."""
    require_images(x, "x")
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def standardise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Return (x - mean) / std per channel; pass the *training* set's mean and std (C,), also for test data."""
    return (x - mean[:, None, None]) / std[:, None, None]  # (C,) -> (C, 1, 1) broadcasts over H, W
