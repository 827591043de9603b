"""Attention, written once: scaled dot-product attention and its multi-head layer.

Taught in 09_text_to_image (where the learner writes `attention` by hand); used by the text
encoder (self-attention over words) and by the U-Net (self-attention over pixels, and
cross-attention from pixels to words).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Return softmax(q k^T / sqrt(d)) v, shape (..., Tq, d_v)   (eq. 1 of Vaswani et al. 2017).

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, d_v); mask (..., Tq or 1, Tk) is True where a
    query may look (padding is False), as in F.scaled_dot_product_attention.
    """
    return attention_weights(q, k, mask) @ v


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Return softmax(q k^T / sqrt(d)), shape (..., Tq, Tk): how much each query reads each key (rows sum to 1)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)


class MultiHeadAttention(nn.Module):
    """Queries from `x` (B, Tq, dim) look at keys and values from `context` (B, Tk, context_dim) in n_heads heads.

    With context = x this is self-attention; with context = text tokens it is cross-attention.
    """

    def __init__(self, dim: int, context_dim: int, n_heads: int = 4):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} must be divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def _split_heads(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, tq, dim = x.shape
        h = self.n_heads
        q = self.to_q(x).reshape(b, tq, h, dim // h).transpose(1, 2)  # (B, heads, Tq, d)
        k, v = self.to_kv(context).reshape(b, -1, 2, h, dim // h).permute(2, 0, 3, 1, 4)  # 2 x (B, heads, Tk, d)
        return q, k, v

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, tq, dim = x.shape
        q, k, v = self._split_heads(x, context)
        mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, Tk): same for every head and query
        out = attention(q, k, v, mask)  # (B, heads, Tq, d)
        return self.out(out.transpose(1, 2).reshape(b, tq, dim))

    def weights(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the attention weights (B, heads, Tq, Tk): how much each query reads each key (rows sum to 1)."""
        q, k, _ = self._split_heads(x, context)
        return attention_weights(q, k, None if mask is None else mask[:, None, None, :])  # (B, heads, Tq, Tk)
