"""An invisible spread-spectrum watermark, the attacks it meets on the way, and a detector by correlation.

Taught in 10_limits. A generator adds a secret pattern of +-1 values, scaled far below what the eye sees,
to every image it makes (Cox et al. 1997 describe the idea for photographs). Whoever holds the key
correlates an image with the pattern: without the watermark the correlation is noise, a z-score near
N(0, 1); with it the z-score is large. The picture itself is noise to the detector, so it first
removes most of it with a high-pass filter (the image minus its local average).
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course.validate import require_images


def watermark_key(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """Return the secret pattern: +-1 per pixel, (C, H, W), the same in every colour channel (so that it lives in
    brightness, which JPEG keeps best), drawn from `seed`."""
    c, h, w = shape
    bits = torch.randint(0, 2, (1, h, w), generator=torch.Generator().manual_seed(seed))
    return (2.0 * bits - 1).expand(c, h, w).contiguous()


def embed_watermark(x: torch.Tensor, key: torch.Tensor, strength: float = 6 / 255) -> torch.Tensor:
    """Return images (B, C, H, W) in [0, 1] with `strength * key` added, stored as 8-bit values as an image file would."""
    require_images(x, "x")
    return quantise((x + strength * key).clamp(0, 1))


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Return x rounded to the 256 levels of an 8-bit image file."""
    return (x * 255).round() / 255


def correlation_z(x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Return one z-score per image (B,): the correlation of the mean-free image with the key, times sqrt(N).

    For an image that does not contain the key this is about N(0, 1): a sum of N products of unrelated
    numbers, divided by its standard deviation sigma_x * sqrt(N).
    """
    r = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)  # (B, N), mean-free
    k = key.flatten().to(r)  # (N,) of +-1, so |k|^2 = N
    n = r.shape[1]
    return (r @ k) / (r.std(1).clamp_min(1e-12) * n**0.5)


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """Return x minus its 3x3 local average (edges repeated): the picture's smooth parts removed, fine detail kept."""
    return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def detect_watermark(x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Return the detector's z-score (B,) for images x: correlation_z of their high-pass part with the key."""
    return correlation_z(high_pass(require_images(x, "x")), key)


def jpeg(x: torch.Tensor, quality: int = 50) -> torch.Tensor:
    """Return images (B, C, H, W) in [0, 1] after saving and reloading them as JPEG files of this quality (Pillow)."""
    from PIL import Image

    out = []
    for img in x:
        pixels = (img.permute(1, 2, 0).squeeze(-1).numpy() * 255).round().astype(np.uint8)  # (H, W, C) or (H, W)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
        back = torch.from_numpy(np.array(Image.open(buffer))).float() / 255
        out.append(back.permute(2, 0, 1) if back.ndim == 3 else back[None])
    return torch.stack(out)


def blur(x: torch.Tensor) -> torch.Tensor:
    """Return x averaged over 3x3 neighbourhoods (a light blur)."""
    return quantise(F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1))


def resize_half(x: torch.Tensor) -> torch.Tensor:
    """Return x shrunk to half its size and enlarged back (bilinear), as a re-posted thumbnail would be."""
    small = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    return quantise(F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1))


def crop_border(x: torch.Tensor, border: int = 4) -> torch.Tensor:
    """Return x with a border of `border` pixels blacked out (a crop that keeps every other pixel in its place)."""
    out = torch.zeros_like(x)
    out[..., border:-border, border:-border] = x[..., border:-border, border:-border]
    return out


def shift(x: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Return x moved right by `pixels` (wrapping around): every pixel lands beside its key value."""
    return x.roll(pixels, dims=-1)


ATTACKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    "JPEG quality 75": lambda x: jpeg(x, 75),
    "JPEG quality 50": lambda x: jpeg(x, 50),
    "blur 3x3": blur,
    "resize to half and back": resize_half,
    "crop a 4-pixel border": crop_border,
    "shift by 1 pixel": shift,
    "mirror (flip)": lambda x: x.flip(-1),
}


def detection_rates(x: torch.Tensor, key: torch.Tensor, strength: float = 6 / 255, threshold: float = 4.0,
                    attacks: dict[str, Callable] | None = None) -> dict[str, tuple[float, float]]:
    """Return {attack: (detection rate on watermarked images, false-positive rate on the same images without it)}.

    Both sets go through the attack; an image counts as watermarked when its z-score exceeds `threshold`.
    """
    marked = embed_watermark(x, key, strength)
    rates = {}
    for name, attack in (attacks or ATTACKS).items():
        hit = (detect_watermark(attack(marked), key) > threshold).float().mean().item()
        false = (detect_watermark(attack(quantise(x)), key) > threshold).float().mean().item()
        rates[name] = (hit, false)
    return rates
