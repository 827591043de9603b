"""The course's digits: handwriting-like pen strokes, with a share of typeset digits from fonts.

Taught in 00_start_here. Three quarters of the images are drawn as pen strokes
(`course.data.handwriting`); a quarter are digits of one of matplotlib's fonts, bent by a random
affine map (rotation, scale, shear, shift), an elastic warp and a stroke-width change. Both are
normalised like MNIST (ink in a 20 x 20 box of 28 x 28). The set is cached on disk after its
first generation.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import os
import warnings
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F

from course.data.handwriting import PenStyle, draw_digits
from course.data.image_dataset import ImageDataset

DIGITS = "0123456789"
BASE = 40  # side of the clean glyph bitmaps everything is warped from
_REFERENCE_FONT = "DejaVuSans.ttf"


def _font_dir() -> str:
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


def _render_clean(path: str) -> torch.Tensor | None:
    """Return the ten digits of one font as (10, BASE, BASE) floats in [0, 1], or None if it has none."""
    from matplotlib import ft2font

    font = ft2font.FT2Font(path)
    charmap = font.get_charmap()
    if not all(ord(c) in charmap for c in DIGITS):
        return None
    out = torch.zeros(10, BASE, BASE)
    for i, c in enumerate(DIGITS):
        font.set_size(64, 72)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            font.set_text(c)
            font.draw_glyphs_to_bitmap()
        img = np.asarray(font.get_image(), dtype=np.float32) / 255.0
        rows, cols = np.nonzero(img > 0.05)
        if len(rows) == 0:
            return None
        img = torch.from_numpy(img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].copy())
        h, w = img.shape
        k = (BASE - 4) / max(h, w)  # fit the longer side into the box, keep the aspect ratio
        nh, nw = max(1, round(h * k)), max(1, round(w * k))
        img = F.interpolate(img[None, None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0, 0]
        top, left = (BASE - nh) // 2, (BASE - nw) // 2
        out[i, top : top + nh, left : left + nw] = img.clamp(0, 1)
    return out


def _looks_like_digits(candidate: torch.Tensor, reference: torch.Tensor) -> bool:
    """Return True when most of the font's glyphs are nearest to the same reference digit and all differ.

    Some fonts map the digit code points to symbols (cmsy10, cmex10) or to one placeholder box
    (LastResortHE); italics still match at least 6 of 10.
    """
    def feats(x):  # (10, BASE, BASE) -> (10, 256) unit vectors
        small = F.interpolate(x[:, None], size=(16, 16), mode="area").flatten(1)
        small = small - small.mean(1, keepdim=True)
        return small / small.norm(dim=1, keepdim=True).clamp_min(1e-6)

    sim = feats(candidate) @ feats(reference).T  # (10, 10) cosine similarities
    correct = (sim.argmax(1) == torch.arange(10)).sum().item()
    distinct = torch.cdist(candidate.flatten(1), candidate.flatten(1)).add(torch.eye(10) * 1e3).min() > 1.0
    return correct >= 6 and bool(distinct)


@functools.lru_cache(maxsize=1)
def _clean_glyphs() -> tuple[tuple[str, ...], torch.Tensor]:
    reference = _render_clean(os.path.join(_font_dir(), _REFERENCE_FONT))
    names, bitmaps = [], []
    for path in sorted(glob.glob(os.path.join(_font_dir(), "*.ttf"))):
        clean = _render_clean(path)
        if clean is not None and _looks_like_digits(clean, reference):
            names.append(os.path.basename(path)[:-4])
            bitmaps.append(clean)
    return tuple(names), torch.stack(bitmaps)  # (n_fonts, 10, BASE, BASE)


def digit_fonts() -> list[str]:
    """Return the names of matplotlib's fonts that really draw the ten digits (checked by rendering)."""
    return list(_clean_glyphs()[0])


def clean_glyphs() -> torch.Tensor:
    """Return the undistorted digits of every usable font, shape (n_fonts, 10, BASE, BASE)."""
    return _clean_glyphs()[1].clone()


@dataclass
class GlyphStyle:
    """How strongly each rendered digit is distorted (0 everywhere gives clean, centred glyphs)."""

    rotation: float = 15.0  # degrees, uniform in [-rotation, rotation]
    scale: tuple[float, float] = (0.8, 1.1)
    shear: float = 0.25
    shift: float = 0.08  # fraction of the image side
    elastic: float = 0.05  # size of the smooth random displacement, in image-side units
    strokes: tuple[str, ...] = ("thin", "normal", "bold", "heavy")
    fill: float = 22 / 28  # the glyph's box as a share of the image side (MNIST: 20 of 28)


def _stroke_variants(clean: torch.Tensor) -> torch.Tensor:
    """Return (4, n_fonts, 10, BASE, BASE): thin, normal, bold, heavy strokes of every glyph."""
    x = clean.flatten(0, 1)[:, None]  # (n_fonts*10, 1, BASE, BASE)
    eroded = -F.max_pool2d(-x, 3, 1, 1)
    thin = 0.5 * (x + eroded)
    bold = F.max_pool2d(x, 3, 1, 1)
    heavy = F.max_pool2d(x, 5, 1, 2)
    return torch.stack([thin, x, bold, heavy])[:, :, 0].unflatten(1, clean.shape[:2])


@functools.lru_cache(maxsize=1)
def _strokes() -> torch.Tensor:
    return _stroke_variants(_clean_glyphs()[1])


def render_digits(
    labels: torch.Tensor,
    size: int = 28,
    style: GlyphStyle | None = None,
    generator: torch.Generator | None = None,
    fonts: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return images (N, 1, size, size) in [0, 1] of the digits in `labels`, randomly distorted.

    `fonts` optionally fixes the font index of each image; otherwise fonts are drawn at random.
    """
    style = style or GlyphStyle()
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.ndim != 1 or (labels.numel() and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError("labels must be a 1-D tensor of digits 0..9")
    g = generator or torch.Generator().manual_seed(0)
    strokes = _strokes()  # (4, n_fonts, 10, BASE, BASE)
    n, n_fonts = labels.numel(), strokes.shape[1]

    def uniform(lo, hi, shape=(n,)):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    font_idx = fonts if fonts is not None else torch.randint(n_fonts, (n,), generator=g)
    allowed = torch.tensor([["thin", "normal", "bold", "heavy"].index(s) for s in style.strokes])
    stroke_idx = allowed[torch.randint(len(allowed), (n,), generator=g)]
    angle = uniform(-style.rotation, style.rotation) * torch.pi / 180
    scale = uniform(*style.scale)
    shear = uniform(-style.shear, style.shear)
    shift = uniform(-style.shift, style.shift, (n, 2)) * 2  # grid units span 2 per side
    warp = torch.randn((n, 2, 4, 4), generator=g) * style.elastic

    # Map output coordinates to source coordinates: p_src = M p_out + t (grid_sample pulls pixels).
    cos, sin = torch.cos(angle), torch.sin(angle)
    k = 1.0 / (style.fill * scale)
    m = torch.stack([torch.stack([cos, -sin + shear * cos], 1), torch.stack([sin, cos + shear * sin], 1)], 1)
    theta = torch.cat([m * k[:, None, None], shift[:, :, None]], dim=2)  # (N, 2, 3)

    out = torch.empty(n, 1, size, size)
    for start in range(0, n, 4096):
        sl = slice(start, start + 4096)
        src = strokes[stroke_idx[sl], font_idx[sl], labels[sl]][:, None]  # (b, 1, BASE, BASE)
        grid = F.affine_grid(theta[sl], [src.shape[0], 1, size, size], align_corners=False)  # (b, size, size, 2)
        bend = F.interpolate(warp[sl], size=(size, size), mode="bicubic", align_corners=False)  # (b, 2, size, size)
        grid = grid + bend.permute(0, 2, 3, 1)
        out[sl] = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0, 1)


def mixed_fonts() -> list[str]:
    """Return the fonts whose digits join the handwriting: the plain sans-serif ones, as close to a pen as fonts get.

    Serifs and bold strokes would give typeset digits away; the monospaced fonts' slashed zero is no handwritten 0.
    """
    return [name for name in digit_fonts()
            if name in ("DejaVuSans", "DejaVuSans-Oblique", "cmss10")]


FONT_SHARE = 0.1  # a few typeset digits add shapes the strokes miss
FONT_STYLE = GlyphStyle(rotation=10, scale=(0.9, 1.05), shear=0.25, shift=0.03, strokes=("thin", "normal", "bold"),
                        fill=20 / 28)  # MNIST's 20-in-28 box; no "heavy" strokes, which look stamped
HAND_STYLE = PenStyle(jitter=0.03, elastic=0.045)


def course_digits(labels: torch.Tensor, size: int = 28, generator: torch.Generator | None = None,
                  font_share: float = FONT_SHARE, hand: PenStyle = HAND_STYLE) -> torch.Tensor:
    """Return images (N, 1, size, size) in [0, 1] of the digits in `labels`: pen strokes, `font_share` from fonts."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    g = generator or torch.Generator().manual_seed(0)
    hand = dataclasses.replace(hand, size=size, box=hand.box * size / 28)
    x = draw_digits(labels, hand, g)
    typeset = torch.rand(labels.numel(), generator=g) < font_share
    if typeset.any():
        usable = torch.tensor([digit_fonts().index(name) for name in mixed_fonts()])
        fonts = usable[torch.randint(len(usable), (int(typeset.sum()),), generator=g)]
        x[typeset] = render_digits(labels[typeset], size, FONT_STYLE, g, fonts=fonts)
    return (x * 255).round_() / 255  # 8-bit levels, like MNIST's files (and identical from the disk cache)


def glyph_digits(n_train: int = 30000, n_test: int = 5000, size: int = 28, seed: int = 0,
                 font_share: float = FONT_SHARE) -> ImageDataset:
    """Return the course's digit data set: balanced classes, deterministic for a given seed, cached on disk."""
    if n_train < 0 or n_test < 0:
        raise ValueError("n_train and n_test must be non-negative")
    from course.cache import cache_dir, code_fingerprint

    # the key: every argument, the styles, the fonts found, and the package's code (a changed drawing is redrawn)
    key = repr((n_train, n_test, size, seed, font_share, HAND_STYLE, FONT_STYLE, mixed_fonts(), code_fingerprint()))
    path = os.path.join(cache_dir(), "data", f"digits-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt")
    try:
        x_train, y_train, x_test, y_test = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError):
        g = torch.Generator().manual_seed(seed)
        y_train = (torch.arange(n_train) % 10)[torch.randperm(n_train, generator=g)]
        y_test = (torch.arange(n_test) % 10)[torch.randperm(n_test, generator=g)]
        x_train = course_digits(y_train, size, g, font_share)
        x_test = course_digits(y_test, size, g, font_share)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        torch.save((_to_bytes(x_train), y_train, _to_bytes(x_test), y_test), tmp)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        return _dataset(x_train, y_train, x_test, y_test, font_share)
    return _dataset(x_train.float() / 255, y_train, x_test.float() / 255, y_test, font_share)


def _to_bytes(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def _dataset(x_train, y_train, x_test, y_test, font_share) -> ImageDataset:
    info = {"sources": f"{1 - font_share:.0%} pen strokes, {font_share:.0%} fonts", "fonts": mixed_fonts()}
    return ImageDataset("glyphs", x_train, y_train, x_test, y_test, list(DIGITS), info)
