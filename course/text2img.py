"""Text-to-image: a U-Net denoiser that reads a caption through cross-attention, trained end to end with its text encoder.

Taught in 09_text_to_image. The denoiser is course.unet's U-Net with cross-attention, the text
encoder course.text's; sampling is course.diffusion's DDIM with classifier-free guidance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course.data.image_dataset import from_signed, to_signed
from course.data.shapes import ATTRIBUTES
from course.diffusion import NoiseSchedule, SamplerConfig, ScheduleConfig, ddim_sample
from course.text import TextEncoder, TextEncoderConfig, Tokenizer
from course.unet import CrossAttention, UNet, UNetConfig
from course.validate import require_images


@dataclass
class TextToImageConfig:
    """Everything that changes the trained text-to-image model: text encoder, denoiser and training."""

    vocab: tuple[str, ...] = ("<pad>", "<start>")
    max_len: int = 9
    text_dim: int = 64
    text_layers: int = 2
    channels: int = 3
    size: int = 32
    patch: int = 2  # pixel_unshuffle: the U-Net works on (channels*patch^2, size/patch, size/patch), losslessly
    widths: tuple[int, ...] = (64, 128)
    attn_levels: tuple[int, ...] = (1,)  # the levels (0 = finest) whose blocks cross-attend to the caption (mid always does)
    n_heads: int = 4
    time_dim: int = 128
    groups: int = 8
    # training
    diffusion_steps: int = 1000
    schedule: str = "cosine"
    prediction: str = "v"
    n_steps: int = 1000  # optimiser steps
    batch_size: int = 128
    lr: float = 2e-3
    p_uncond: float = 0.1  # share of captions replaced by the empty one, for classifier-free guidance
    ema_decay: float = 0.995
    seed: int = 0


class TextToImage(nn.Module):
    """Text encoder + the course's U-Net cross-attending to the words: predicts v (or eps, x0) from x_t (B, C, H, W),
    steps t (B,) and caption ids (B, T)."""

    def __init__(self, cfg: TextToImageConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TextToImageConfig()
        self.text = TextEncoder(TextEncoderConfig(len(cfg.vocab), cfg.max_len, cfg.text_dim, cfg.text_layers, cfg.n_heads))
        self.unet = UNet(UNetConfig(
            in_channels=cfg.channels, size=cfg.size, widths=cfg.widths, time_dim=cfg.time_dim, groups=cfg.groups,
            mid_attention=False, patch=cfg.patch, n_heads=cfg.n_heads,
            cond_dim=cfg.text_dim,  # the caption's summary (its first token) joins the time embedding (FiLM)
            context_dim=cfg.text_dim, cross_attn_levels=cfg.attn_levels,  # every word, through cross-attention
        ))

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        require_images(x, "x_t", self.cfg.channels, self.cfg.size)
        if t.shape != (x.shape[0],) or ids.shape[0] != x.shape[0]:
            raise ValueError(f"need one step and one caption per image: x {tuple(x.shape)}, t {tuple(t.shape)}, ids {tuple(ids.shape)}")
        tokens, mask = self.text(ids)  # (B, T, text_dim), (B, T)
        return self.unet(x, t, cond=tokens[:, 0], context=tokens, context_mask=mask)


def schedule_for(cfg: TextToImageConfig) -> NoiseSchedule:
    """Return the noise schedule the model in `cfg` is trained with."""
    return NoiseSchedule(ScheduleConfig(cfg.diffusion_steps, cfg.schedule))


@torch.no_grad()
def generate(model: TextToImage, tokenizer: Tokenizer, captions: list[str], guidance: float = 3.0, n_steps: int = 25,
             seed: int = 0, batch_size: int = 250, device=None,
             guidance_interval: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Return one image (N, C, H, W) in [0, 1] per caption, drawn with DDIM and classifier-free guidance (only at steps
    t with lo <= t / (T - 1) <= hi for guidance_interval (lo, hi); w = 1 elsewhere)."""
    device = device or next(model.parameters()).device
    schedule = schedule_for(model.cfg).to(device)
    g = torch.Generator().manual_seed(seed)
    cfg, out = model.cfg, []
    sampler = _sampler(cfg, n_steps, guidance, guidance_interval)
    for i in range(0, len(captions), batch_size):
        ids = tokenizer(captions[i : i + batch_size]).to(device)
        null = tokenizer([""] * len(ids)).to(device)
        x = ddim_sample(model, schedule, (len(ids), cfg.channels, cfg.size, cfg.size), sampler, cond=ids, null_cond=null,
                        generator=g)
        out.append(from_signed(x))
    return torch.cat(out)


def _sampler(cfg: TextToImageConfig, n_steps: int, guidance: float,
             guidance_interval: tuple[float, float]) -> SamplerConfig:
    """Return the DDIM settings every sampler of this module uses: the model's prediction, x0 clipped to [-1, 1]."""
    return SamplerConfig(n_steps=n_steps, guidance=guidance, prediction=cfg.prediction, clip=1.0,
                         guidance_interval=guidance_interval)


def _edit_inputs(model: TextToImage, tokenizer: Tokenizer, images: torch.Tensor, captions: list[str]):
    """Return (schedule, images in [-1, 1] on the model's device, caption ids, empty-caption ids), checked."""
    cfg = model.cfg
    images = require_images(images, "images", cfg.channels, cfg.size)
    if len(captions) != len(images):
        raise ValueError(f"need one caption per image: {len(images)} images, {len(captions)} captions")
    device = next(model.parameters()).device
    ids, null = tokenizer(captions).to(device), tokenizer([""] * len(captions)).to(device)
    return schedule_for(cfg).to(device), to_signed(images).to(device), ids, null


def edit_with_caption(model: TextToImage, tokenizer: Tokenizer, images: torch.Tensor, captions: list[str],
                      strength: float, guidance: float = 3.0, n_steps: int = 25, seed: int = 0,
                      guidance_interval: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Return `images` (N, C, H, W) in [0, 1] redrawn towards new `captions` (image-to-image, SDEdit): noised to
    `strength` (0 keeps them, 1 draws afresh) and denoised with guidance (in guidance_interval, as in `generate`)."""
    from course.editing import sdedit

    schedule, x, ids, null = _edit_inputs(model, tokenizer, images, captions)
    g = torch.Generator().manual_seed(seed)
    out = sdedit(model, schedule, x, strength, _sampler(model.cfg, n_steps, guidance, guidance_interval), ids, null, g)
    return from_signed(out).clamp(0, 1).cpu()


def fill_with_caption(model: TextToImage, tokenizer: Tokenizer, images: torch.Tensor, keep: torch.Tensor,
                      captions: list[str], guidance: float = 3.0, n_steps: int = 25, seed: int = 0,
                      resample: int = 2, guidance_interval: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Return `images` (N, C, H, W) in [0, 1] with the region where keep == 0 drawn anew to match `captions`, the
    rest kept (inpainting, RePaint): a design tool's "generative fill". `keep` is (N, 1, H, W) or (H, W); guidance
    only in guidance_interval, as in `generate`."""
    from course.editing import inpaint

    schedule, x, ids, null = _edit_inputs(model, tokenizer, images, captions)
    g = torch.Generator().manual_seed(seed)
    out = inpaint(model, schedule, x, keep, _sampler(model.cfg, n_steps, guidance, guidance_interval), ids, null, g,
                  resample)
    return from_signed(out).clamp(0, 1).cpu()


@torch.no_grad()
def cross_attention_maps(model: TextToImage, x_t: torch.Tensor, t: torch.Tensor, ids: torch.Tensor,
                         per_head: bool = False) -> list[torch.Tensor]:
    """Return, for every cross-attention layer, how much each pixel reads each word: (B, h, w, T) averaged over the
    heads, or with per_head (B, heads, h, w, T), one map per head."""
    maps = []

    def record(module: CrossAttention, args: tuple) -> None:
        x, tokens, mask = args
        weights = module.attn.weights(module.queries(x), tokens, mask)  # (B, heads, h*w, T)
        weights = weights.reshape(*weights.shape[:2], x.shape[2], x.shape[3], -1)  # (B, heads, h, w, T)
        maps.append(weights if per_head else weights.mean(1))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, CrossAttention)]
    try:
        model.eval()
        model(x_t, t, ids)
    finally:
        for h in hooks:
            h.remove()
    return maps


def attribute_accuracy(x: torch.Tensor, attrs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Return, per attribute and for 'all four', the share of images whose judged attribute is the one asked for."""
    from course.judge import judge_outputs

    _, probs = judge_outputs(x, "shapes")
    right = {name: probs[name].argmax(-1) == attrs[name].cpu() for name in ATTRIBUTES}
    scores = {name: r.float().mean().item() for name, r in right.items()}
    scores["all four"] = torch.stack(list(right.values())).all(0).float().mean().item()
    return scores


def train_text_to_image(model: TextToImage, x: torch.Tensor, ids: torch.Tensor, null_ids: torch.Tensor,
                        device: torch.device | str = "cpu", live=None, progress: bool = True) -> tuple[TextToImage, dict]:
    """Train `model` as its config says on images x (N, C, H, W) in [-1, 1] with caption ids (N, T); return (the model
    holding the averaged (EMA) weights, in eval mode, history). `null_ids` (T,) is the empty caption.

    Lesson 09's loop (its section 6): a batch, 10 % of its captions emptied, diffusion_loss, one step.
    """
    from course.diffusion import diffusion_loss, drop_condition
    from course.ema import EMA
    from course.train import train_steps

    cfg = model.cfg
    require_images(x, "training images", cfg.channels, cfg.size)
    schedule = schedule_for(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.n_steps, pct_start=0.1)
    ema = EMA(model, cfg.ema_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()

    def step(i: int) -> dict[str, float]:
        idx = torch.randint(len(x), (cfg.batch_size,), generator=g)
        cond = drop_condition(ids[idx], null_ids, cfg.p_uncond, generator=g)  # p_uncond empty captions
        loss = diffusion_loss(model, schedule, x[idx].to(device), cond.to(device), cfg.prediction, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema.update(model)
        return {"loss": loss.item()}

    history = train_steps(step, cfg.n_steps, log_every=50, live=live, progress=progress, desc="text-to-image")
    model.load_state_dict(ema.model.state_dict())
    return model.eval(), history
