"""A small U-Net denoiser with a time embedding and optional class or vector conditioning.

Taught in 08_diffusion; 09_text_to_image conditions it on text. Called as `model(x_t, t, cond)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.validate import require_images


@dataclass
class UNetConfig:
    """Sizes of the U-Net. `widths` has one entry per resolution; every level but the last halves the size."""

    in_channels: int = 1
    size: int = 28
    widths: tuple[int, ...] = (32, 64, 96)
    blocks_per_level: int = 1
    time_dim: int = 128
    n_classes: int = 0  # > 0: class-conditional; label n_classes means "no class" (for guidance)
    cond_dim: int = 0  # > 0: conditioned on a vector, e.g. a text embedding; zeros mean "no condition"
    groups: int = 8
    mid_attention: bool = True


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Return sinusoidal embeddings (B, dim) of integer steps t (B,), as in Vaswani et al. 2017 and Ho et al. 2020."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU; the embedding sets a per-channel scale and shift (FiLM)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)  # (B, c_out, 1, 1) each
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, groups: int, n_heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, n_heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """Predicts noise (or v, or x0) from a noisy image x_t (B, C, H, W), its step t (B,) and an optional condition."""

    def __init__(self, cfg: UNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UNetConfig()
        emb = cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = nn.Embedding(cfg.n_classes + 1, emb) if cfg.n_classes else None
        self.cond_proj = nn.Linear(cfg.cond_dim, emb) if cfg.cond_dim else None
        w = cfg.widths
        self.conv_in = nn.Conv2d(cfg.in_channels, w[0], 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        c = w[0]
        skips = []
        for i, width in enumerate(w):
            level = nn.ModuleList()
            for _ in range(cfg.blocks_per_level):
                level.append(ResBlock(c, width, emb, cfg.groups))
                c = width
                skips.append(c)
            self.down_blocks.append(level)
            self.downsamples.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(w) - 1 else nn.Identity())
        self.mid = ResBlock(c, c, emb, cfg.groups)
        self.mid_attn = SelfAttention(c, cfg.groups) if cfg.mid_attention else nn.Identity()
        self.up_blocks = nn.ModuleList()
        for i, width in reversed(list(enumerate(w))):
            level = nn.ModuleList()
            for _ in range(cfg.blocks_per_level):
                level.append(ResBlock(c + skips.pop(), width, emb, cfg.groups))
                c = width
            self.up_blocks.append(level)
        self.norm_out = nn.GroupNorm(min(cfg.groups, c), c)
        self.conv_out = nn.Conv2d(c, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # start by predicting zero: a stable beginning
        nn.init.zeros_(self.conv_out.bias)

    def embed(self, t: torch.Tensor, cond) -> torch.Tensor:
        """Return the embedding (B, time_dim) of the step and the condition together."""
        emb = self.time_mlp(timestep_embedding(t, self.cfg.time_dim))
        if self.class_emb is not None and cond is not None:
            emb = emb + self.class_emb(cond)
        if self.cond_proj is not None and cond is not None:
            emb = emb + self.cond_proj(cond)
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        require_images(x, "x_t", self.cfg.in_channels)
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must hold one step per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
        emb = self.embed(t, cond)
        h = self.conv_in(x)
        skips = []
        for level, down in zip(self.down_blocks, self.downsamples):
            for block in level:
                h = block(h, emb)
                skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid(h, emb))
        for level in self.up_blocks:
            for block in level:
                skip = skips.pop()
                if h.shape[-2:] != skip.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = block(torch.cat([h, skip], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))
