"""Handwriting-like digits drawn offline as pen strokes, then normalised the way MNIST was.

Taught in 00_start_here. Each digit is one of several allographs (ways people write it: open and
closed 4, barred and plain 7, looped and plain 2, ...), each a few strokes through control points.
For every image the control points jitter, the digit is slanted, rotated and squeezed, bent by a
smooth elastic field (Simard et al. 2003), and drawn with a pen whose width and pressure vary.
Then MNIST's own normalisation (LeCun et al. 1998): the ink's bounding box is fitted into a
20 x 20 box keeping its aspect ratio, anti-aliased, and centred by its centre of mass in 28 x 28.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Control points in a unit box, x to the right and y down; each allograph is a list of strokes.
ALLOGRAPHS: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [
        [[(0.55, 0.0), (0.2, 0.12), (0.05, 0.5), (0.22, 0.9), (0.55, 1.0), (0.85, 0.8), (0.95, 0.4), (0.75, 0.05), (0.45, 0.04)]],
        [[(0.5, 0.0), (0.1, 0.25), (0.1, 0.75), (0.5, 1.0), (0.9, 0.75), (0.9, 0.25), (0.5, 0.0), (0.3, 0.1)]],
    ],
    1: [
        [[(0.5, 0.0), (0.5, 0.5), (0.5, 1.0)]],
        [[(0.38, 0.14), (0.55, 0.0), (0.52, 0.5), (0.5, 1.0)]],
        [[(0.38, 0.14), (0.55, 0.0), (0.52, 0.5), (0.5, 1.0)], [(0.3, 1.0), (0.7, 1.0)]],
    ],
    2: [
        [[(0.1, 0.25), (0.4, 0.0), (0.8, 0.1), (0.8, 0.4), (0.45, 0.7), (0.05, 1.0), (0.5, 0.97), (0.95, 0.98)]],
        [[(0.12, 0.2), (0.45, 0.0), (0.85, 0.15), (0.7, 0.5), (0.2, 0.9), (0.1, 0.98), (0.35, 0.8), (0.4, 0.98), (0.95, 0.97)]],
        [[(0.1, 0.3), (0.35, 0.02), (0.75, 0.05), (0.85, 0.35), (0.5, 0.65), (0.1, 1.0), (0.95, 1.0)]],
    ],
    3: [
        [[(0.1, 0.12), (0.45, 0.0), (0.8, 0.15), (0.75, 0.38), (0.4, 0.48), (0.8, 0.6), (0.88, 0.85), (0.5, 1.0), (0.08, 0.88)]],
        [[(0.1, 0.02), (0.85, 0.0), (0.4, 0.4), (0.8, 0.55), (0.9, 0.8), (0.55, 1.0), (0.1, 0.9)]],
    ],
    4: [
        [[(0.6, 0.0), (0.3, 0.4), (0.05, 0.68), (0.5, 0.68), (0.95, 0.66)], [(0.72, 0.3), (0.7, 0.65), (0.68, 1.0)]],
        [[(0.2, 0.0), (0.15, 0.35), (0.12, 0.6), (0.5, 0.6), (0.92, 0.58)], [(0.78, 0.0), (0.75, 0.5), (0.72, 1.0)]],
        [[(0.2, 0.0), (0.12, 0.55), (0.5, 0.58), (0.8, 0.5), (0.82, 0.0), (0.78, 0.5), (0.72, 1.0)]],
    ],
    5: [
        [[(0.25, 0.0), (0.2, 0.45), (0.55, 0.38), (0.85, 0.6), (0.8, 0.9), (0.45, 1.0), (0.08, 0.88)], [(0.25, 0.02), (0.55, 0.0), (0.9, 0.0)]],
        [[(0.85, 0.0), (0.28, 0.02), (0.22, 0.45), (0.55, 0.4), (0.85, 0.62), (0.75, 0.92), (0.4, 1.0), (0.1, 0.85)]],
    ],
    6: [
        [[(0.75, 0.0), (0.35, 0.25), (0.12, 0.65), (0.3, 1.0), (0.7, 0.95), (0.82, 0.68), (0.5, 0.48), (0.18, 0.65)]],
        [[(0.6, 0.0), (0.25, 0.4), (0.15, 0.8), (0.45, 1.0), (0.8, 0.85), (0.7, 0.55), (0.35, 0.6), (0.2, 0.8)]],
    ],
    7: [
        [[(0.0, 0.05), (0.5, 0.03), (0.95, 0.02), (0.68, 0.5), (0.45, 1.0)]],
        [[(0.0, 0.05), (0.5, 0.03), (0.95, 0.02), (0.68, 0.5), (0.45, 1.0)], [(0.35, 0.52), (0.88, 0.5)]],
        [[(0.0, 0.15), (0.05, 0.02), (0.55, 0.05), (0.95, 0.0), (0.62, 0.45), (0.5, 1.0)]],
    ],
    8: [
        [[(0.78, 0.12), (0.5, 0.0), (0.22, 0.15), (0.35, 0.4), (0.68, 0.6), (0.82, 0.85), (0.5, 1.0), (0.18, 0.85),
          (0.32, 0.6), (0.65, 0.4), (0.8, 0.18), (0.6, 0.02)]],
        [[(0.5, 0.48), (0.2, 0.3), (0.3, 0.02), (0.7, 0.02), (0.8, 0.3), (0.5, 0.48), (0.15, 0.72), (0.35, 1.0),
          (0.7, 1.0), (0.85, 0.72), (0.5, 0.48)]],
    ],
    9: [
        [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.2), (0.3, 0.48), (0.7, 0.42), (0.85, 0.2), (0.8, 0.6), (0.7, 1.0)]],
        [[(0.82, 0.15), (0.45, 0.0), (0.12, 0.25), (0.4, 0.5), (0.8, 0.3), (0.82, 0.05), (0.8, 0.55), (0.78, 1.0)]],
        [[(0.85, 0.25), (0.5, 0.0), (0.15, 0.22), (0.35, 0.5), (0.8, 0.35), (0.8, 0.7), (0.62, 1.0)]],
    ],
}

# How often each allograph is drawn, relative to the others of its digit (most people write a plain 1).
FREQUENCY: dict[int, tuple[float, ...]] = {1: (8, 3, 1), 4: (3, 2, 1), 7: (4, 2, 2)}


@dataclass
class PenStyle:
    """How much each handwritten digit varies (all zeros give the allographs as drawn above)."""

    jitter: float = 0.04  # control-point noise, as a fraction of the digit's box
    slant: float = 0.25  # shear of x by y, standard deviation (handwriting leans)
    rotation: float = 8.0  # degrees, standard deviation
    squeeze: tuple[float, float] = (0.55, 1.1)  # width relative to height
    elastic: float = 0.05  # smooth displacement field, as a fraction of the digit's box
    pen: tuple[float, float] = (0.8, 1.7)  # pen radius in output pixels (MNIST strokes are 2-4 px wide)
    pressure: float = 0.25  # relative change of the pen radius along a stroke
    softness: tuple[float, float] = (0.8, 1.6)  # width of the anti-aliased edge, pixels
    box: float = 20.0  # MNIST fits the ink into 20 x 20 ...
    size: int = 28  # ... centred by centre of mass in 28 x 28


def _catmull_rom(n_points: int, samples_per_span: int) -> torch.Tensor:
    """Return the (M, n_points) matrix that samples a Catmull-Rom spline through n_points control points."""
    rows = []
    for span in range(n_points - 1):
        for s in range(samples_per_span + (span == n_points - 2)):
            t = s / samples_per_span
            w = torch.tensor([-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -t**2 + t**3]) / 2
            row = torch.zeros(n_points)
            for k, idx in enumerate((span - 1, span, span + 1, span + 2)):
                row[min(max(idx, 0), n_points - 1)] += w[k]  # end points repeated
            rows.append(row)
    return torch.stack(rows)


@functools.lru_cache(maxsize=None)
def _allograph(digit: int, variant: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (control points (K, 2), spline matrix (M, K), segment mask (M - 1,)) of one allograph.

    The mask is False for the pen-up jump between two strokes.
    """
    strokes = ALLOGRAPHS[digit][variant]
    ctrl = torch.tensor([p for stroke in strokes for p in stroke], dtype=torch.float32)
    blocks, mask, offset = [], [], 0
    for stroke in strokes:
        k = len(stroke)
        w = _catmull_rom(k, 3 if k > 2 else 6)
        block = torch.zeros(w.shape[0], ctrl.shape[0])
        block[:, offset : offset + k] = w
        blocks.append(block)
        mask += [True] * (w.shape[0] - 1) + [False]
        offset += k
    return ctrl, torch.cat(blocks), torch.tensor(mask[:-1])


def _smooth_noise(n: int, m: int, g: torch.Generator) -> torch.Tensor:
    """Return (n, m) smooth random curves in about [-1, 1]: pen pressure along a path."""
    coarse = torch.rand(n, 1, 4, generator=g) * 2 - 1
    return F.interpolate(coarse, size=m, mode="linear", align_corners=True)[:, 0]


def _render(a: torch.Tensor, b: torch.Tensor, ra: torch.Tensor, rb: torch.Tensor, soft: torch.Tensor, size: int) -> torch.Tensor:
    """Return (n, 1, size, size) ink from segments a->b (n, S, 2) in pixels with radii ra->rb (n, S)."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    p = torch.stack([xx, yy], -1).reshape(-1, 2)  # (P, 2) pixel centres
    ab = b - a  # (n, S, 2)
    ab2 = (ab * ab).sum(-1).clamp_min(1e-6)[:, None]  # (n, 1, S)
    # Dot products through matmuls, never an (n, P, S, 2) tensor: p.ab - a.ab and |p - a|^2.
    ap_ab = p @ ab.transpose(1, 2) - (a * ab).sum(-1)[:, None]  # (n, P, S)
    ap2 = (p * p).sum(-1)[None, :, None] - 2 * (p @ a.transpose(1, 2)) + (a * a).sum(-1)[:, None]  # (n, P, S)
    t = (ap_ab / ab2).clamp(0, 1)  # where the nearest point of each segment lies
    d = (ap2 - 2 * t * ap_ab + t * t * ab2).clamp_min(0).sqrt()  # distance to each segment
    inside = (ra[:, None] + t * (rb - ra)[:, None] - d).amax(-1)  # (n, P): depth inside the nearest stroke, pixels
    ink = (inside / soft[:, None] + 0.5).clamp(0, 1)  # a linear ramp across the edge: anti-aliasing
    return ink.reshape(-1, 1, size, size)


def _draw_allograph(digit: int, variant: int, n: int, style: PenStyle, g: torch.Generator) -> torch.Tensor:
    """Return n images (n, 1, size, size) of one allograph of one digit."""
    ctrl, spline, mask = _allograph(digit, variant)
    pts = ctrl + torch.randn((n, *ctrl.shape), generator=g) * style.jitter  # (n, K, 2)
    pts = spline @ pts - 0.5  # (n, M, 2) centred on the box
    # Slant, rotation and squeeze; then a smooth elastic field sampled at every point.
    shear = torch.randn(n, generator=g) * style.slant
    angle = torch.randn(n, generator=g) * style.rotation * torch.pi / 180
    squeeze = style.squeeze[0] + (style.squeeze[1] - style.squeeze[0]) * torch.rand(n, generator=g)
    x, y = pts[..., 0] * squeeze[:, None], pts[..., 1]
    x = x - shear[:, None] * y  # leaning right as y goes up
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    pts = torch.stack([cos * x - sin * y, sin * x + cos * y], -1)
    field = torch.randn((n, 2, 4, 4), generator=g) * style.elastic  # (n, 2, 4, 4) coarse displacements
    bend = F.grid_sample(field, pts[:, None].clamp(-1, 1) * 1.6, mode="bicubic", align_corners=False)  # (n, 2, 1, M)
    pts = pts + bend[:, :, 0].permute(0, 2, 1)

    # MNIST's normalisation: fit the ink's box into box x box pixels, then centre the mass.
    radius = style.pen[0] + (style.pen[1] - style.pen[0]) * torch.rand(n, generator=g)
    r = radius[:, None] * (1 + style.pressure * _smooth_noise(n, pts.shape[1], g))  # (n, M)
    lo, hi = pts.amin(1), pts.amax(1)  # (n, 2)
    scale = (style.box - 2 * radius) / (hi - lo).amax(1).clamp_min(1e-3)  # keep the aspect ratio
    pts = (pts - lo[:, None]) * scale[:, None, None]
    a, b, ra, rb = pts[:, :-1][:, mask], pts[:, 1:][:, mask], r[:, :-1][:, mask], r[:, 1:][:, mask]
    mass = (b - a).norm(dim=-1) * (ra + rb)  # (n, S) ink per segment
    centre = ((a + b) / 2 * mass[..., None]).sum(1) / mass.sum(1, keepdim=True)  # (n, 2)
    shift = style.size / 2 - centre
    soft = style.softness[0] + (style.softness[1] - style.softness[0]) * torch.rand(n, generator=g)
    return _render(a + shift[:, None], b + shift[:, None], ra, rb, soft, style.size)


def draw_digits(labels: torch.Tensor, style: PenStyle | None = None, generator: torch.Generator | None = None,
                batch_size: int = 256) -> torch.Tensor:
    """Return handwriting-like images (N, 1, size, size) in [0, 1] of the digits in `labels`.

    Deterministic for a given generator state; each image picks one allograph of its digit at random.
    """
    style = style or PenStyle()
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.ndim != 1 or (labels.numel() and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError("labels must be a 1-D tensor of digits 0..9")
    g = generator or torch.Generator().manual_seed(0)
    n = labels.numel()
    variant = torch.zeros(n, dtype=torch.long)
    for digit, forms in ALLOGRAPHS.items():
        idx = torch.nonzero(labels == digit)[:, 0]
        weights = torch.tensor(FREQUENCY.get(digit, (1.0,) * len(forms)), dtype=torch.float)
        variant[idx] = torch.multinomial(weights, len(idx), replacement=True, generator=g) if len(idx) else variant[idx]
    out = torch.zeros(n, 1, style.size, style.size)
    for digit in range(10):
        for v in range(len(ALLOGRAPHS[digit])):
            idx = torch.nonzero((labels == digit) & (variant == v))[:, 0]
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                out[chunk] = _draw_allograph(digit, v, len(chunk), style, g)
    return out


def allograph_images(style: PenStyle | None = None) -> tuple[torch.Tensor, list[str]]:
    """Return every allograph drawn once without randomness, (n_allographs, 1, 28, 28), and a title for each."""
    still = style or PenStyle(jitter=0, slant=0, rotation=0, squeeze=(0.8, 0.8), elastic=0, pen=(1.3, 1.3),
                              pressure=0, softness=(1.0, 1.0))
    images, titles = [], []
    for digit, forms in ALLOGRAPHS.items():
        for v in range(len(forms)):
            images.append(_draw_allograph(digit, v, 1, still, torch.Generator().manual_seed(0)))
            titles.append(f"{digit} ({chr(97 + v)})")
    return torch.cat(images), titles


def drawing_stages(labels: torch.Tensor, seed: int = 0, style: PenStyle | None = None) -> dict[str, torch.Tensor]:
    """Return {stage: images (N, 1, 28, 28)}: the same digits drawn with each kind of variation switched on in turn.

    The same seed gives the same random draws at every stage, so each stage adds one kind of variation.
    """
    full = style or PenStyle()
    none = PenStyle(jitter=0, slant=0, rotation=0, squeeze=(0.8, 0.8), elastic=0, pen=(1.3, 1.3), pressure=0,
                    softness=(1.0, 1.0), box=full.box, size=full.size)
    steps = {
        "allograph": none,
        "+ jittered points": dataclasses.replace(none, jitter=full.jitter),
        "+ slant, rotation, width": dataclasses.replace(none, jitter=full.jitter, slant=full.slant, rotation=full.rotation,
                                                        squeeze=full.squeeze),
        "+ elastic bend": dataclasses.replace(full, pen=none.pen, pressure=0, softness=none.softness),
        "+ pen width, pressure": full,
    }
    return {name: draw_digits(labels, s, torch.Generator().manual_seed(seed)) for name, s in steps.items()}
