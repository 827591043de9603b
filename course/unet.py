"""The course's one U-Net: a denoiser with a time embedding, optional class or vector conditioning,
optional self-attention in the middle and optional cross-attention to a sequence (a caption's words).

Taught in 08_diffusion; 09_text_to_image adds cross-attention to text. Called as
`model(x_t, t, cond)`, or `model(x_t, t, cond, context, context_mask)` with cross-attention.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.attention import MultiHeadAttention
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
    mid_attention: bool = True  # self-attention over the pixels of the coarsest level
    patch: int = 1  # > 1: pixel_unshuffle the input, so the network works on (C*patch^2, H/patch, W/patch) losslessly
    context_dim: int = 0  # > 0: cross-attention to a context sequence (B, T, context_dim), in the middle ...
    cross_attn_levels: tuple[int, ...] = ()  # ... and after every block of these levels (0 = finest)
    n_heads: int = 4


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
        self.attn = MultiHeadAttention(channels, channels, n_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        return x + self.attn(seq, seq).transpose(1, 2).reshape(b, c, h, w)


class CrossAttention(nn.Module):
    """Every pixel of a feature map (its query) looks at a context sequence, e.g. a caption's word vectors.

    A learned position embedding tells each pixel where it is, so that it can answer words like 'top left'.
    """

    def __init__(self, channels: int, context_dim: int, size: int, n_heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.pos = nn.Parameter(torch.zeros(1, channels, size, size))
        self.attn = MultiHeadAttention(channels, context_dim, n_heads)

    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """Return one query vector per pixel, (B, H*W, C)."""
        return (self.norm(x) + self.pos).flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        out = self.attn(self.queries(x), context, mask)  # (B, H*W, C)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class Block(nn.Module):
    """A ResBlock, then (when given) cross-attention to the context: one step of a U-Net level."""

    def __init__(self, c_in: int, c_out: int, cfg: "UNetConfig", size: int, attend: bool):
        super().__init__()
        self.res = ResBlock(c_in, c_out, cfg.time_dim, cfg.groups)
        attend = attend and cfg.context_dim > 0
        self.cross = CrossAttention(c_out, cfg.context_dim, size, cfg.n_heads, cfg.groups) if attend else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context=None, mask=None) -> torch.Tensor:
        x = self.res(x, emb)
        return x if self.cross is None else self.cross(x, context, mask)


class UNet(nn.Module):
    """Predicts noise (or v, or x0) from a noisy image x_t (B, C, H, W), its step t (B,), an optional condition
    and, with cfg.context_dim > 0, a context sequence (B, T, context_dim) to cross-attend to."""

    def __init__(self, cfg: UNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UNetConfig()
        emb = cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = nn.Embedding(cfg.n_classes + 1, emb) if cfg.n_classes else None
        self.cond_proj = nn.Linear(cfg.cond_dim, emb) if cfg.cond_dim else None
        w, c_px = cfg.widths, cfg.in_channels * cfg.patch**2
        self.conv_in = nn.Conv2d(c_px, w[0], 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        c, size, skips, sizes = w[0], cfg.size // cfg.patch, [], []
        for i, width in enumerate(w):
            level = nn.ModuleList()
            for _ in range(cfg.blocks_per_level):
                level.append(Block(c, width, cfg, size, i in cfg.cross_attn_levels))
                c = width
                skips.append(c)
            self.down_blocks.append(level)
            sizes.append(size)
            size = size if i == len(w) - 1 else (size + 1) // 2  # a stride-2 convolution with padding 1
        for i, width in enumerate(w):  # the last level keeps its size
            self.downsamples.append(nn.Conv2d(width, width, 3, stride=2, padding=1) if i < len(w) - 1 else nn.Identity())
        self.mid = Block(c, c, cfg, size, attend=True)
        self.mid_attn = SelfAttention(c, cfg.groups, cfg.n_heads) if cfg.mid_attention else nn.Identity()
        self.up_blocks = nn.ModuleList()
        for i, width in reversed(list(enumerate(w))):
            level = nn.ModuleList()
            for _ in range(cfg.blocks_per_level):
                level.append(Block(c + skips.pop(), width, cfg, sizes[i], i in cfg.cross_attn_levels))
                c = width
            self.up_blocks.append(level)
        self.norm_out = nn.GroupNorm(min(cfg.groups, c), c)
        self.conv_out = nn.Conv2d(c, c_px, 3, padding=1)
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

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        require_images(x, "x_t", cfg.in_channels)
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must hold one step per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
        if cfg.context_dim and context is None:
            raise ValueError(f"this U-Net cross-attends (context_dim={cfg.context_dim}): pass context (B, T, {cfg.context_dim})")
        emb = self.embed(t, cond)
        h = self.conv_in(F.pixel_unshuffle(x, cfg.patch))  # (B, w0, H/patch, W/patch)
        skips = []
        for level, down in zip(self.down_blocks, self.downsamples):
            for block in level:
                h = block(h, emb, context, context_mask)
                skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid(h, emb, context, context_mask))
        for level in self.up_blocks:
            for block in level:
                skip = skips.pop()
                if h.shape[-2:] != skip.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = block(torch.cat([h, skip], dim=1), emb, context, context_mask)
        out = self.conv_out(F.silu(self.norm_out(h)))  # (B, C*patch^2, H/patch, W/patch)
        return F.pixel_shuffle(out, cfg.patch)  # (B, C, H, W)
