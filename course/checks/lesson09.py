"""Exercise checks for 09_text_to_image: the tokenizer, attention by hand, and cross-attention from pixels to words.

Taught in 09_text_to_image. Each `check_<exercise>(fn)` runs the learner's function on small
inputs, compares it with the package's version and names the usual mistakes.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, own_rng, same_values
from course.text import PAD, START, Tokenizer

_VOCAB = (PAD, START, "a", "at", "blue", "circle", "left", "red", "small", "the", "top")


@exercise_check
def check_encode_caption(fn: Callable) -> None:
    """Check `fn(caption, vocab, max_len)` returns [START id, word ids..., PAD ids...] as a list of max_len ints."""
    caption, max_len = "a small red circle at the top left", 11
    want = Tokenizer(_VOCAB, max_len).encode(caption)
    got = fn(caption, _VOCAB, max_len)
    expect(got is not None, "your function returned None: did you forget `return ids`?")
    got = got.tolist() if isinstance(got, torch.Tensor) else list(got)
    expect(all(isinstance(i, int) for i in got), f"return whole-number ids, got {got[:4]}...")
    words = [_VOCAB.index(w) for w in caption.split()]
    if got[: len(words)] == words:
        raise Hint(f"the caption should open with the {START!r} token (id {_VOCAB.index(START)}), before the first word")
    if len(got) == len(words) + 1:
        raise Hint(f"got {len(got)} ids: pad the row with {PAD!r} (id {_VOCAB.index(PAD)}) up to max_len = {max_len}, "
                   "so that every caption in a batch has the same length")
    expect(len(got) == max_len, f"got {len(got)} ids; the row should have exactly max_len = {max_len}")
    if got[-len(words) - 1 :] == want[: len(words) + 1]:
        raise Hint("the padding is at the front: put the START token and the words first, then the padding")
    expect(got[0] == want[0], f"the first id should be the START token's id {want[0]}, got {got[0]}")
    expect(got == want, f"expected {want}, got {got}: look up each word's position in vocab (vocab.index(word))")
    shouty = fn("A Blue circle!", _VOCAB, 6)
    shouty = shouty.tolist() if isinstance(shouty, torch.Tensor) else list(shouty)
    expect(shouty == Tokenizer(_VOCAB, 6).encode("A Blue circle!"),
           "'A Blue circle!' should encode like 'a blue circle': split the caption with words_of(caption), "
           "which lower-cases it and drops punctuation")


@exercise_check
def check_attention(fn: Callable) -> None:
    """Check `fn(q, k, v, mask)` equals F.scaled_dot_product_attention, with and without a padding mask."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (5, 7, 7))
    want = F.scaled_dot_product_attention(q, k, v)
    got = expect_tensor(fn(q, k, v, None))
    expect_shape(got, tuple(want.shape), "the attention output for q (2, 3, 5, 8) and k, v (2, 3, 7, 8)")
    scores = q @ k.transpose(-2, -1)
    if same_values(got, scores.softmax(-1) @ v):
        raise Hint("the scores are not scaled: divide q @ k^T by sqrt(d), where d = q.shape[-1]")
    if same_values(got, (scores / q.shape[-1]).softmax(-1) @ v):
        raise Hint("divide the scores by sqrt(d), not by d")
    if same_values(got, (scores / math.sqrt(q.shape[-1])).softmax(-2) @ v):
        raise Hint("softmax over the wrong axis: each query's weights over the keys must sum to 1, so use dim=-1")
    expect_close(got, want, "the attention output")
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[0, ..., 4:] = False  # the first caption has three padding tokens, the second five
    mask[1, ..., 2:] = False
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    got = expect_tensor(fn(q, k, v, mask))
    if same_values(got, F.scaled_dot_product_attention(q, k, v)):
        raise Hint("the mask is ignored: set the scores where mask is False to -inf before the softmax "
                   "(scores.masked_fill(~mask, float('-inf')))")
    if same_values(got, F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)):
        raise Hint("the mask is inverted: True means 'may look', so fill the scores where mask is False")
    expect_close(got, want, "the attention output with a padding mask")


def reference_cross_attention(module, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Return x + out(attention(queries from the pixels of x, keys and values from context)), with the module's own
    layers `to_q`, `to_k`, `to_v`, `out`, computed by F.scaled_dot_product_attention."""
    b, c, h, w = x.shape
    pixels = x.flatten(2).transpose(1, 2)  # (B, H*W, C)
    q, k, v = module.to_q(pixels), module.to_k(context), module.to_v(context)  # (B, H*W, C), (B, T, C), (B, T, C)
    attn_mask = None if mask is None else mask[:, None, :]  # (B, 1, T): the same for every pixel
    out = module.out(F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask))  # (B, H*W, C)
    return x + out.transpose(1, 2).reshape(b, c, h, w)


def _cross_inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 3, 4, generator=g)  # (B, C, H, W): 12 pixels of 8 channels
    context = torch.randn(2, 5, 6, generator=g)  # (B, T, D): 5 words of 6 numbers
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, False]])
    return x, context, mask


@exercise_check
@own_rng
def check_cross_attention(fn: Callable) -> str:
    """Check `fn(channels, context_dim)` builds cross-attention whose forward(x, context, mask) lets every pixel of x
    (B, C, H, W) attend to the words of context (B, T, D) and adds the result to x, as F.scaled_dot_product_attention."""
    torch.manual_seed(0)
    module = fn(8, 6)
    expect(isinstance(module, torch.nn.Module), f"CrossAttention(8, 6) should be an nn.Module, got {type(module).__name__}")
    for name in ("to_q", "to_k", "to_v", "out"):
        expect(isinstance(getattr(module, name, None), torch.nn.Linear),
               f"the module needs a layer self.{name} = nn.Linear(...) (the check reads your layers by these names)")
    expect(module.to_q.in_features == 8 and module.to_k.in_features == 6 and module.to_v.in_features == 6,
           f"queries come from the pixels (channels = 8 numbers each), keys and values from the words (context_dim = 6): "
           f"got to_q {module.to_q.in_features} -> ..., to_k {module.to_k.in_features} -> ..., to_v {module.to_v.in_features} -> ...")
    x, context, mask = _cross_inputs()
    got = expect_tensor(module(x, context, None), "the output")
    if got.shape == (2, 12, 8):
        raise Hint("got (B, H*W, C): reshape back to an image, out.transpose(1, 2).reshape(B, C, H, W), and add x")
    expect_shape(got, tuple(x.shape), "the output for x (2, 8, 3, 4) and 5 words")
    want = reference_cross_attention(module, x, context, None)
    b, c, h, w = x.shape
    if same_values(got, want - x):
        raise Hint("add the input back (a residual connection): return x + the attention's output")
    q = module.to_q(x.flatten(2).transpose(1, 2))
    k, v = module.to_k(context), module.to_v(context)
    raw = q @ k.transpose(-2, -1)
    variants = {
        "the scores are not scaled: divide q @ k^T by sqrt(d), with d = q.shape[-1]": raw.softmax(-1) @ v,
        "softmax over the wrong axis: each pixel's weights over the words must sum to 1, dim=-1": (raw / math.sqrt(c)).softmax(-2) @ v,
    }
    for hint, out in variants.items():
        if same_values(got, x + module.out(out).transpose(1, 2).reshape(b, c, h, w)):
            raise Hint(hint)
    wrong_layout = module.out(F.scaled_dot_product_attention(module.to_q(x.reshape(b, h * w, c)), k, v))
    if same_values(got, x + wrong_layout.reshape(b, c, h, w)) or same_values(got, x + wrong_layout.transpose(1, 2).reshape(b, c, h, w)):
        raise Hint("x.reshape(B, H*W, C) mixes pixels and channels: one vector per pixel is x.flatten(2).transpose(1, 2)")
    expect_close(got, want, "the output without a mask", atol=1e-5)
    got = expect_tensor(module(x, context, mask), "the output with a mask")
    want = reference_cross_attention(module, x, context, mask)
    if same_values(got, reference_cross_attention(module, x, context, None)):
        raise Hint("the mask is ignored: the captions end in padding words, which no pixel may read "
                   "(pass mask[:, None, :] to your attention, shape (B, 1, T))")
    if same_values(got, reference_cross_attention(module, x, context, ~mask)):
        raise Hint("the mask is inverted: True means 'may look'")
    expect_close(got, want, "the output with a padding mask", atol=1e-5)
    return "Every pixel asked every word; the words answered with their values."
