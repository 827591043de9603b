"""Text-to-image: a U-Net denoiser that reads a caption through cross-attention, trained end to end with its text encoder.

Taught in 09_text_to_image. Reuses course.unet's ResBlock and timestep embedding and course.text's
encoder and attention; sampling is course.diffusion's DDIM with classifier-free guidance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.data.image_dataset import from_signed
from course.data.shapes import ATTRIBUTES
from course.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample
from course.text import MultiHeadAttention, TextEncoder, TextEncoderConfig, Tokenizer
from course.unet import ResBlock, timestep_embedding
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


class CrossAttention(nn.Module):
    """Every pixel of a feature map (its query) looks at the caption's word vectors (keys and values).

    A learned position embedding tells each pixel where it is, so that it can answer words like 'top left'.
    """

    def __init__(self, channels: int, text_dim: int, size: int, n_heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.pos = nn.Parameter(torch.zeros(1, channels, size, size))
        self.attn = MultiHeadAttention(channels, text_dim, n_heads)

    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """Return one query vector per pixel, (B, H*W, C)."""
        return (self.norm(x) + self.pos).flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        out = self.attn(self.queries(x), tokens, mask)  # (B, H*W, C)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class Level(nn.Module):
    """One resolution of the U-Net: a ResBlock, then (optionally) cross-attention to the caption."""

    def __init__(self, c_in: int, c_out: int, cfg: TextToImageConfig, size: int, attend: bool):
        super().__init__()
        self.res = ResBlock(c_in, c_out, cfg.time_dim, cfg.groups)
        self.cross = CrossAttention(c_out, cfg.text_dim, size, cfg.n_heads, cfg.groups) if attend else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.res(x, emb)
        return x if self.cross is None else self.cross(x, tokens, mask)


class TextToImage(nn.Module):
    """Text encoder + U-Net: predicts v (or eps, x0) from x_t (B, C, H, W), steps t (B,) and caption ids (B, T)."""

    def __init__(self, cfg: TextToImageConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TextToImageConfig()
        self.text = TextEncoder(TextEncoderConfig(len(cfg.vocab), cfg.max_len, cfg.text_dim, cfg.text_layers, cfg.n_heads))
        self.time_mlp = nn.Sequential(nn.Linear(cfg.time_dim, cfg.time_dim), nn.SiLU(), nn.Linear(cfg.time_dim, cfg.time_dim))
        self.pooled_proj = nn.Linear(cfg.text_dim, cfg.time_dim)  # the caption's summary joins the time embedding (FiLM)
        c_px = cfg.channels * cfg.patch**2
        w, size = cfg.widths, cfg.size // cfg.patch
        self.conv_in = nn.Conv2d(c_px, w[0], 3, padding=1)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        c, sizes = w[0], []
        for i, width in enumerate(w):
            self.down.append(Level(c, width, cfg, size, i in cfg.attn_levels))
            c = width
            sizes.append(size)
            size = size // 2 if i < len(w) - 1 else size
        self.downsample = nn.ModuleList(nn.Conv2d(w[i], w[i], 3, stride=2, padding=1) for i in range(len(w) - 1))
        self.mid = Level(c, c, cfg, size, True)
        for i in reversed(range(len(w))):
            self.up.append(Level(c + w[i], w[i], cfg, sizes[i], i in cfg.attn_levels))
            c = w[i]
        self.norm_out = nn.GroupNorm(min(cfg.groups, c), c)
        self.conv_out = nn.Conv2d(c, c_px, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start by predicting zero: a stable beginning
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        require_images(x, "x_t", cfg.channels, cfg.size)
        if t.shape != (x.shape[0],) or ids.shape[0] != x.shape[0]:
            raise ValueError(f"need one step and one caption per image: x {tuple(x.shape)}, t {tuple(t.shape)}, ids {tuple(ids.shape)}")
        tokens, mask = self.text(ids)  # (B, T, text_dim), (B, T)
        emb = self.time_mlp(timestep_embedding(t, cfg.time_dim)) + self.pooled_proj(tokens[:, 0])  # (B, time_dim)
        h = self.conv_in(F.pixel_unshuffle(x, cfg.patch))  # (B, w0, H/patch, W/patch)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, emb, tokens, mask)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb, tokens, mask)
        for level in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = level(torch.cat([h, skip], dim=1), emb, tokens, mask)
        out = self.conv_out(F.silu(self.norm_out(h)))  # (B, C*patch^2, H/patch, W/patch)
        return F.pixel_shuffle(out, cfg.patch)  # (B, C, H, W)


def schedule_for(cfg: TextToImageConfig) -> NoiseSchedule:
    """Return the noise schedule the model in `cfg` is trained with."""
    return NoiseSchedule(ScheduleConfig(cfg.diffusion_steps, cfg.schedule))


@torch.no_grad()
def generate(model: TextToImage, tokenizer: Tokenizer, captions: list[str], guidance: float = 3.0, n_steps: int = 25,
             seed: int = 0, batch_size: int = 250, device=None) -> torch.Tensor:
    """Return one image (N, C, H, W) in [0, 1] per caption, drawn with DDIM and classifier-free guidance."""
    device = device or next(model.parameters()).device
    schedule = schedule_for(model.cfg).to(device)
    g = torch.Generator().manual_seed(seed)
    cfg, out = model.cfg, []
    for i in range(0, len(captions), batch_size):
        ids = tokenizer(captions[i : i + batch_size]).to(device)
        null = tokenizer([""] * len(ids)).to(device)
        x = ddim_sample(model, schedule, (len(ids), cfg.channels, cfg.size, cfg.size), n_steps, cond=ids, null_cond=null,
                        guidance=guidance, prediction=cfg.prediction, generator=g, device=device, clip=1.0)
        out.append(from_signed(x))
    return torch.cat(out)


@torch.no_grad()
def cross_attention_maps(model: TextToImage, x_t: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> list[torch.Tensor]:
    """Return, for every cross-attention layer, how much each pixel reads each word: (B, h, w, T), averaged over heads."""
    maps = []

    def record(module: CrossAttention, args: tuple) -> None:
        x, tokens, mask = args
        weights = module.attn.weights(module.queries(x), tokens, mask).mean(1)  # (B, h*w, T)
        maps.append(weights.reshape(x.shape[0], x.shape[2], x.shape[3], -1))

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
