"""Exercise checks for 09_text_to_image: the tokenizer and attention by hand (its guidance exercise is
lesson 08's, checked by course.checks.lesson08.check_guidance).

Taught in 09_text_to_image. Each `check_<exercise>(fn)` runs the learner's function on small
inputs, compares it with the package's version and names the usual mistakes.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values
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
