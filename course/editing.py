"""Editing with a trained diffusion model, as design tools do: inpainting and image-to-image.

Taught in 08_diffusion (section 10).

* **Inpainting** (RePaint, Lugmayr et al. 2022): regenerate a masked region so that it agrees with
  the rest of the image. Sample as usual, but after every step replace the part you keep by the
  original image noised to that step; then jump back one step and redo it a few times
  (`resample`), so the generated part has time to fit the kept part.
* **Image-to-image** (SDEdit, Meng et al. 2022): noise an input part-way (its `strength`, 0 to 1)
  and denoise it with the model. Little noise keeps the input's layout; a lot leaves only the
  model's idea of the prompt.

`inpaint` and `sdedit` work in the model's space (pixels or latents); `inpaint_digits` and
`sdedit_digits` wrap them for lesson 08's latent digit model (encode, edit, decode).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from course.diffusion import NoiseSchedule, SamplerConfig, ddim_steps, ddim_update
from course.validate import require_images


def paste_known(x: torch.Tensor, known: torch.Tensor, keep: torch.Tensor, alpha_bar: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
    """Return x with the kept region (keep == 1) replaced by `known` noised to the level alpha_bar:
    keep * (sqrt(ab) known + sqrt(1 - ab) noise) + (1 - keep) * x   (RePaint, eq. 8)."""
    noised = alpha_bar.sqrt() * known + (1 - alpha_bar).sqrt() * noise
    return keep * noised + (1 - keep) * x


def renoise(x_prev: torch.Tensor, ab_prev: torch.Tensor, ab: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Return x at the noisier level ab from x at the level ab_prev: the forward process's jump
    q(x_t | x_prev) = N(sqrt(ab / ab_prev) x_prev, (1 - ab / ab_prev) I)."""
    ratio = ab / ab_prev
    return ratio.sqrt() * x_prev + (1 - ratio).sqrt() * noise


def _check_mask(known: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    if keep.shape[-2:] != known.shape[-2:]:
        raise ValueError(f"the mask's height and width {tuple(keep.shape[-2:])} must match the image's "
                         f"{tuple(known.shape[-2:])}: one mask value per pixel (1 = keep, 0 = regenerate)")
    if keep.min() < 0 or keep.max() > 1:
        raise ValueError("the mask must hold values in [0, 1]: 1 keeps a pixel, 0 regenerates it")
    return keep.to(known.device, known.dtype).expand_as(known)


@torch.no_grad()
def inpaint(model: nn.Module, schedule: NoiseSchedule, known: torch.Tensor, keep: torch.Tensor,
            sampler: SamplerConfig = SamplerConfig(), cond=None, null_cond=None,
            generator: torch.Generator | None = None, resample: int = 2) -> torch.Tensor:
    """Return images (B, C, H, W) in the model's space that keep `known` where keep == 1 and are generated
    elsewhere, consistently with the kept part (RePaint with DDIM steps).

    `keep` is (H, W), (1, 1, H, W) or (B, 1, H, W). Each step is done 1 + `resample` times: after each but
    the last, the result is noised back to the step's level (`renoise`) and denoised again. Noise comes
    from `generator` on the CPU, so a seed gives the same images on any device.
    """
    device = schedule.alpha_bar.device
    known = known.to(device)
    keep = _check_mask(known, keep)
    model.eval()
    draw = lambda: torch.randn(known.shape, generator=generator).to(device)
    x = draw()
    for step, prev in ddim_steps(schedule.n_steps - 1, sampler.n_steps):
        ab, ab_prev = schedule.level(step), schedule.level(prev)
        for r in range(resample + 1):
            x_prev, _ = ddim_update(model, schedule, x, step, prev, sampler, cond, null_cond, generator)
            x_prev = paste_known(x_prev, known, keep, ab_prev, draw())
            if r < resample:
                x = renoise(x_prev, ab_prev, ab, draw())
        x = x_prev
    return x


@torch.no_grad()
def sdedit(model: nn.Module, schedule: NoiseSchedule, start: torch.Tensor, strength: float,
           sampler: SamplerConfig = SamplerConfig(), cond=None, null_cond=None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Return `start` (B, C, H, W, in the model's space) noised to `strength` x the last step and denoised
    again with DDIM, using about strength x sampler.n_steps steps (SDEdit). Strength 0 returns `start`
    unchanged; strength 1 starts from (almost) pure noise and keeps next to nothing of it.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 (keep the input) and 1 (ignore it), got {strength}")
    device = schedule.alpha_bar.device
    start = start.to(device)
    top = round(strength * (schedule.n_steps - 1))
    if top == 0:
        return start.clone()
    model.eval()
    t = torch.full((start.shape[0],), top, device=device, dtype=torch.long)
    x = schedule.add_noise(start, t, torch.randn(start.shape, generator=generator).to(device))
    for step, prev in ddim_steps(top, max(1, round(strength * sampler.n_steps))):
        x, _ = ddim_update(model, schedule, x, step, prev, sampler, cond, null_cond, generator)
    return x


def latent_keep(keep: torch.Tensor, latent_size: int) -> torch.Tensor:
    """Return the mask (B, 1, h, w) of latent positions to keep, from a pixel mask (B, 1, H, W): a latent position
    is kept only if every pixel of its patch is kept (a min-pool), so nothing of the erased region leaks in."""
    factor = keep.shape[-1] // latent_size
    return -F.max_pool2d(-keep.float(), factor)  # (B, 1, H / factor, W / factor)


def _conditions(model: nn.Module, labels: torch.Tensor | None, n: int, device, sampler: SamplerConfig):
    """Return (cond, null_cond, sampler): the labels and "no label" for guidance, or unconditional sampling."""
    null = torch.full((n,), model.cfg.n_classes, device=device)
    if labels is None:
        return null, null, dataclasses.replace(sampler, guidance=1.0)
    return labels.to(device), null, sampler


def inpaint_digits(model: nn.Module, schedule: NoiseSchedule, autoencoder: nn.Module, images: torch.Tensor,
                   keep: torch.Tensor, labels: torch.Tensor | None = None, sampler: SamplerConfig | None = None,
                   seed: int = 0, resample: int = 2) -> torch.Tensor:
    """Return images (N, 1, 28, 28) in [0, 1]: `images` with the region where keep == 0 regenerated by a latent
    digit model, the kept pixels pasted back unchanged. `labels` (N,) ask for a class; None lets the model
    decide from what is kept (unconditional, no guidance)."""
    from course.latent import DIGIT_SAMPLER, decode_latents, encode_latents

    images = require_images(images, "images", 1, 28)
    keep = keep.float().expand(len(images), 1, 28, 28)
    device = schedule.alpha_bar.device
    z = encode_latents(autoencoder, images).to(device)  # (N, 4, 7, 7)
    cond, null, sampler = _conditions(model, labels, len(images), device, sampler or DIGIT_SAMPLER)
    g = torch.Generator().manual_seed(seed)
    z_new = inpaint(model, schedule, z, latent_keep(keep, z.shape[-1]), sampler, cond, null, g, resample)
    return keep * images + (1 - keep) * decode_latents(autoencoder, z_new)


def sdedit_digits(model: nn.Module, schedule: NoiseSchedule, autoencoder: nn.Module, images: torch.Tensor,
                  strength: float, labels: torch.Tensor | None = None, sampler: SamplerConfig | None = None,
                  seed: int = 0) -> torch.Tensor:
    """Return images (N, 1, 28, 28) in [0, 1]: `images` encoded, noised to `strength` and denoised by a latent digit
    model towards `labels` (None: unconditional), then decoded (image-to-image)."""
    from course.latent import DIGIT_SAMPLER, decode_latents, encode_latents

    images = require_images(images, "images", 1, 28)
    device = schedule.alpha_bar.device
    z = encode_latents(autoencoder, images).to(device)  # (N, 4, 7, 7)
    cond, null, sampler = _conditions(model, labels, len(images), device, sampler or DIGIT_SAMPLER)
    g = torch.Generator().manual_seed(seed)
    return decode_latents(autoencoder, sdedit(model, schedule, z, strength, sampler, cond, null, g))
