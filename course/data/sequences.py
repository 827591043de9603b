"""Moving sequences: one or two glyphs, shapes or real digits moving and bouncing, frames (B, T, C, H, W).

Taught in 00_start_here; 06_lstm learns to predict the next frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course.data import DIGIT_SETS, did_you_mean, loaded_digits
from course.data.augment import affine_theta, warp
from course.data.glyphs import GlyphStyle, render_digits
from course.data.shapes import ATTRIBUTES, render_shapes

KINDS = (*DIGIT_SETS, "shapes")  # what moves: drawn glyph digits, MNIST or Fashion-MNIST images, or coloured shapes


def bounce(start: torch.Tensor, velocity: torch.Tensor, n_frames: int, limit: float) -> torch.Tensor:
    """Return positions (..., T) moving from `start` at `velocity`, reflected at 0 and `limit`."""
    t = torch.arange(n_frames, dtype=torch.float32)
    pos = start[..., None] + velocity[..., None] * t  # unfolded straight-line motion
    period = 2 * limit
    m = torch.remainder(pos, period)
    return limit - (m - limit).abs()  # a triangle wave folds the line back into [0, limit]


def _objects(kind: str, n: int, patch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return patches (n, C, patch, patch) and their labels for one object per sequence."""
    if kind == "glyphs":
        labels = torch.randint(10, (n,), generator=g)
        style = GlyphStyle(rotation=8, scale=(0.95, 1.05), shear=0.1, shift=0.0, elastic=0.02, fill=0.9)
        return render_digits(labels, patch, style, g), labels
    if kind == "shapes":
        attrs = {name: torch.randint(len(v), (n,), generator=g) for name, v in ATTRIBUTES.items()}
        attrs["size"] = torch.ones(n, dtype=torch.long)  # large, so it fills its patch
        attrs["position"] = torch.full((n,), ATTRIBUTES["position"].index("centre"))
        x = render_shapes(attrs, patch * 2, g)
        x = F.interpolate(x, size=(patch, patch), mode="area")  # (n, 3, patch, patch)
        return x, attrs["shape"]
    labels = torch.randint(10, (n,), generator=g)
    x = loaded_digits(kind).images_of(labels, g)  # (n, 1, 28, 28): real images of the active set
    return F.interpolate(x, size=(patch, patch), mode="area"), labels


def moving_sequences(
    n: int = 2000,
    n_frames: int = 10,
    size: int = 32,
    n_objects: int = 1,
    kind: str = "glyphs",
    patch: int = 14,
    speed: tuple[float, float] = (1.0, 2.5),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return frames (n, n_frames, C, size, size) in [0, 1] and object labels (n, n_objects).

    Objects move in straight lines at `speed` pixels per frame and bounce off the edges;
    two objects are combined with a pixel-wise maximum. `kind` 'mnist' or 'fashion-mnist' moves that set's
    training images, shrunk to `patch` (load it first: `course.data.load_digits` or `use_digits`).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose from {', '.join(KINDS)}.{did_you_mean(kind, KINDS)}")
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects must be 1 or 2, got {n_objects}")
    if patch >= size:
        raise ValueError(f"patch ({patch}) must be smaller than the frame size ({size})")
    g = torch.Generator().manual_seed(seed)
    frames, labels = None, []
    limit = float(size - patch)
    for _ in range(n_objects):
        obj, lab = _objects(kind, n, patch, g)
        labels.append(lab)
        canvas = F.pad(obj, (0, size - patch, 0, size - patch))  # object at the top-left corner
        start = torch.rand(n, 2, generator=g) * limit
        angle = torch.rand(n, generator=g) * 2 * torch.pi
        speed_px = speed[0] + (speed[1] - speed[0]) * torch.rand(n, generator=g)
        velocity = torch.stack([torch.cos(angle), torch.sin(angle)], 1) * speed_px[:, None]
        pos = bounce(start, velocity, n_frames, limit)  # (n, 2, T) in pixels
        shift = (pos / size).permute(0, 2, 1).reshape(n * n_frames, 2)  # (n*T, 2) as a fraction of the frame
        m = n * n_frames
        theta = affine_theta(torch.zeros(m), torch.ones(m), shift, torch.zeros(m, dtype=torch.bool))  # a translation
        moved = warp(canvas.repeat_interleave(n_frames, 0), theta)  # (n*T, C, size, size)
        moved = moved.reshape(n, n_frames, *moved.shape[1:])  # (n, T, C, size, size)
        frames = moved if frames is None else torch.maximum(frames, moved)
    return frames.clamp_(0, 1), torch.stack(labels, 1)
