import math

import torch
import torch.nn.functional as F
from torch import nn

from course.checks.lesson09 import check_attention, check_cross_attention, check_encode_caption
from course.attention import attention
from course.text import PAD, START, words_of
from exercise_checks import assert_hints, assert_not_done, assert_passes


def _encode(caption, vocab, max_len):
    ids = [vocab.index(START)] + [vocab.index(w) for w in words_of(caption)]
    return ids + [vocab.index(PAD)] * (max_len - len(ids))


def test_blank_exercises_say_not_done(capsys):
    for check in (check_encode_caption, check_attention, check_cross_attention):
        assert_not_done(check, capsys)


def test_encode_caption_hints(capsys):
    pad = lambda ids, v, n: ids + [v.index(PAD)] * (n - len(ids))
    wrong = {
        "open with the '<start>'": lambda c, v, n: pad([v.index(w) for w in words_of(c)], v, n),
        "pad the row": lambda c, v, n: [v.index(START)] + [v.index(w) for w in words_of(c)],
        "padding is at the front": lambda c, v, n: _encode(c, v, n)[len(words_of(c)) + 1 :] + _encode(c, v, n)[: len(words_of(c)) + 1],
        "words_of(caption)": lambda c, v, n: pad([v.index(START)] + [v.index(w) for w in c.split() if w in v], v, n),
        "forget `return": lambda c, v, n: None,
    }
    assert_hints(check_encode_caption, wrong, capsys)


def test_attention_hints(capsys):
    def unmasked(q, k, v, mask=None):
        return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v

    def inverted(q, k, v, mask=None):
        return attention(q, k, v, None if mask is None else ~mask)

    wrong = {
        "not scaled": lambda q, k, v, mask=None: (q @ k.transpose(-2, -1)).softmax(-1) @ v,
        "not by d": lambda q, k, v, mask=None: (q @ k.transpose(-2, -1) / q.shape[-1]).softmax(-1) @ v,
        "wrong axis": lambda q, k, v, mask=None: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2) @ v,
        "mask is ignored": unmasked,
        "mask is inverted": inverted,
        "raised RuntimeError": lambda q, k, v, mask=None: (q @ k).softmax(-1) @ v,
    }
    assert_hints(check_attention, wrong, capsys)


class CrossAttention(nn.Module):
    """The solution of exercise 3, with switches for typical mistakes."""

    def __init__(self, channels, context_dim, mistake=None):
        super().__init__()
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(context_dim, channels)
        self.to_v = nn.Linear(context_dim, channels)
        self.out = nn.Linear(channels, channels)
        self.mistake = mistake

    def forward(self, x, context, mask=None):
        b, c, h, w = x.shape
        pixels = x.reshape(b, h * w, c) if self.mistake == "layout" else x.flatten(2).transpose(1, 2)  # (B, H*W, C)
        q, k, v = self.to_q(pixels), self.to_k(context), self.to_v(context)
        if mask is not None and self.mistake != "no mask":
            mask = ~mask if self.mistake == "inverted" else mask
            mask = mask[:, None, :]
        else:
            mask = None
        if self.mistake == "unscaled":
            out = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        else:
            out = attention(q, k, v, mask)
        out = self.out(out)  # (B, H*W, C)
        if self.mistake == "flat":
            return out
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return out if self.mistake == "no residual" else x + out


class SwappedRoles(CrossAttention):
    def __init__(self, channels, context_dim):
        super().__init__(channels, context_dim)
        self.to_q = nn.Linear(context_dim, channels)
        self.to_k = nn.Linear(channels, channels)


def test_cross_attention(capsys):
    assert_passes(check_cross_attention, CrossAttention, capsys)
    assert_hints(check_cross_attention, {
        "add the input back": lambda c, d: CrossAttention(c, d, "no residual"),
        "not scaled": lambda c, d: CrossAttention(c, d, "unscaled"),
        "mixes pixels and channels": lambda c, d: CrossAttention(c, d, "layout"),
        "mask is ignored": lambda c, d: CrossAttention(c, d, "no mask"),
        "mask is inverted": lambda c, d: CrossAttention(c, d, "inverted"),
        "reshape back to an image": lambda c, d: CrossAttention(c, d, "flat"),
        "queries come from the pixels": SwappedRoles,
        "self.to_q": lambda c, d: nn.Linear(c, d),
    }, capsys)


def test_cross_attention_reference_is_the_packages_cross_attention():
    # the package's CrossAttention (several heads, a position embedding, GroupNorm) reduces to the exercise's
    # reference with one head, no position embedding and no normalisation: checked against SDPA in the check
    from course.checks.lesson09 import reference_cross_attention
    from course.unet import CrossAttention as PackageCrossAttention

    torch.manual_seed(0)
    layer = PackageCrossAttention(8, 6, size=4, n_heads=1, groups=1)
    x, context = torch.randn(2, 8, 4, 4), torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    one_head = nn.Module()
    one_head.to_q = layer.attn.to_q
    k_weight, v_weight = layer.attn.to_kv.weight.chunk(2, dim=0)
    one_head.to_k, one_head.to_v = nn.Linear(6, 8, bias=False), nn.Linear(6, 8, bias=False)
    one_head.to_k.weight.data, one_head.to_v.weight.data = k_weight, v_weight
    one_head.out = layer.attn.out
    normed = layer.norm(x) + layer.pos
    want = reference_cross_attention(one_head, normed, context, mask) - normed + x
    assert torch.allclose(layer(x, context, mask), want, atol=1e-5)


def test_checks_leave_the_notebooks_random_state_alone(capsys):
    # a check cell sits before the model is built and trained: checking (or not) must not change the model
    from course.checks import lesson05, lesson08

    def solution_encoder(latent_dim):
        from test_checks_lesson05 import Encoder
        return Encoder(latent_dim)

    for check, fn in [(check_cross_attention, CrossAttention), (lesson05.check_vae_encoder, solution_encoder),
                      (lesson08.check_sample_loop, lambda *a: None), (lesson08.check_train_step, lambda *a: None),
                      (lesson05.check_negative_elbo, lambda *a: None)]:
        torch.manual_seed(123)
        want = torch.rand(3)
        torch.manual_seed(123)
        check(fn)
        assert torch.equal(torch.rand(3), want), check.__name__
    capsys.readouterr()
