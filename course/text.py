"""Text for text-to-image: a word tokenizer, attention written out, and a small transformer text encoder.

Taught in 09_text_to_image. The tokenizer turns a caption into a row of integer ids; the
encoder turns the ids into one vector per word that has "read" the other words (self-attention),
which the denoiser in course.text2img then looks at through cross-attention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from course.attention import MultiHeadAttention

PAD, START = "<pad>", "<start>"  # id 0 fills short captions; id 1 opens every caption (even the empty one)


class UnknownWords(ValueError):
    """A caption used words the tokenizer has never seen; the message lists them and the vocabulary."""


def words_of(caption: str) -> list[str]:
    """Return the lower-case words of a caption, punctuation dropped: 'A red Circle!' -> ['a', 'red', 'circle']."""
    return re.findall(r"[a-z]+", caption.lower())


def build_vocab(captions: list[str]) -> tuple[str, ...]:
    """Return the vocabulary: the two special tokens, then every word of the captions in sorted order."""
    words = sorted({w for c in captions for w in words_of(c)})
    return (PAD, START, *words)


class Tokenizer:
    """Turns captions into padded rows of word ids (B, max_len) and back."""

    def __init__(self, vocab: tuple[str, ...] | list[str], max_len: int):
        if tuple(vocab[:2]) != (PAD, START):
            raise ValueError(f"a vocabulary starts with {PAD!r} and {START!r}; build it with build_vocab()")
        self.vocab = tuple(vocab)
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len

    def unknown_words(self, caption: str) -> list[str]:
        """Return the words of `caption` that are not in the vocabulary (an empty list when all are known)."""
        return [w for w in words_of(caption) if w not in self.ids]

    def encode(self, caption: str) -> list[int]:
        """Return [START id, one id per word, PAD ids...] of length max_len; raise UnknownWords on a new word."""
        unknown = self.unknown_words(caption)
        if unknown:
            known = ", ".join(self.vocab[2:])
            raise UnknownWords(f"unknown word(s) {unknown}: this model only knows the words {known}")
        ids = [self.ids[START]] + [self.ids[w] for w in words_of(caption)]
        if len(ids) > self.max_len:
            raise ValueError(f"caption has {len(ids) - 1} words; at most {self.max_len - 1} fit: {caption!r}")
        return ids + [self.ids[PAD]] * (self.max_len - len(ids))

    def __call__(self, captions: list[str] | str) -> torch.Tensor:
        """Return the ids (B, max_len) of a list of captions (or (1, max_len) for one caption)."""
        captions = [captions] if isinstance(captions, str) else captions
        return torch.tensor([self.encode(c) for c in captions], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """Return the caption of one row of ids, special tokens dropped."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return " ".join(self.vocab[i] for i in ids if i > 1)

    def __repr__(self) -> str:
        return f"Tokenizer({len(self.vocab)} words, max_len={self.max_len})"



class TransformerBlock(nn.Module):
    """Pre-norm transformer layer: x + self-attention(x), then x + MLP(x)."""

    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, dim, n_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, mask)
        return x + self.mlp(self.norm2(x))


@dataclass
class TextEncoderConfig:
    """Sizes of the text encoder."""

    vocab_size: int = 32
    max_len: int = 9
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4


class TextEncoder(nn.Module):
    """Word and position embeddings, then transformer layers: ids (B, T) -> token vectors (B, T, dim) and a mask (B, T)."""

    def __init__(self, cfg: TextEncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TextEncoderConfig()
        self.word_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos_emb = nn.Parameter(torch.randn(cfg.max_len, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(cfg.dim, cfg.n_heads) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (tokens (B, T, dim), mask (B, T) True on real tokens); tokens[:, 0] summarises the caption."""
        if ids.dtype != torch.long or ids.ndim != 2 or ids.shape[1] != self.cfg.max_len:
            raise ValueError(f"ids must be a LongTensor (B, {self.cfg.max_len}) from the tokenizer, "
                             f"got {ids.dtype} {tuple(ids.shape)}")
        mask = ids != 0  # (B, T): the START token is never padding, so every row has a real token
        x = self.word_emb(ids) + self.pos_emb  # (B, T, dim)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x), mask
