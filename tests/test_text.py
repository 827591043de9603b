import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.data.shapes import shapes_dataset
from course.attention import MultiHeadAttention, attention
from course.text import PAD, START, TextEncoder, TextEncoderConfig, Tokenizer, UnknownWords, build_vocab, words_of


def test_words_and_vocabulary():
    assert words_of("A small, RED circle!") == ["a", "small", "red", "circle"]
    vocab = build_vocab(["a red circle", "a blue square"])
    assert vocab == (PAD, START, "a", "blue", "circle", "red", "square")


def test_tokenizer_pads_round_trips_and_names_unknown_words():
    captions = shapes_dataset(200, 0).captions_train
    tok = Tokenizer(build_vocab(captions), 1 + max(len(words_of(c)) for c in captions))
    assert tok.max_len == 9  # START + 'a small red circle at the top left'
    ids = tok(captions[:5])
    assert ids.shape == (5, 9) and ids.dtype == torch.long and (ids[:, 0] == 1).all()
    assert [tok.decode(row) for row in ids] == captions[:5]
    assert tok("").tolist() == [[1] + [0] * 8]  # the empty caption: START, then padding
    with pytest.raises(UnknownWords, match=r"\['pink', 'hexagon'\].*triangle"):
        tok("a pink hexagon")
    assert tok.unknown_words("a pink circle") == ["pink"]
    with pytest.raises(ValueError, match="at most 8"):
        tok("a a a a a a a a a")
    with pytest.raises(ValueError, match="build_vocab"):
        Tokenizer(("a", "b"), 4)


def test_attention_matches_pytorch_with_and_without_mask():
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 4, 6, 8, generator=g), torch.randn(2, 4, 5, 8, generator=g), torch.randn(2, 4, 5, 3, generator=g)
    assert torch.allclose(attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    assert torch.allclose(attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)


def test_multi_head_attention_matches_nn_multiheadattention():
    torch.manual_seed(0)
    mine = MultiHeadAttention(16, 16, n_heads=4)
    nn.init.zeros_(mine.out.bias)
    ref = nn.MultiheadAttention(16, 4, bias=False, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mine.to_q.weight, mine.to_kv.weight]))  # rows: q, k, v
        ref.out_proj.weight.copy_(mine.out.weight)
    x, ctx = torch.randn(3, 7, 16), torch.randn(3, 5, 16)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    want, _ = ref(x, ctx, ctx, key_padding_mask=~mask, need_weights=False)  # PyTorch's mask marks what to ignore
    assert torch.allclose(mine(x, ctx, mask), want, atol=1e-5)


def test_text_encoder_shapes_mask_and_bad_input():
    enc = TextEncoder(TextEncoderConfig(vocab_size=12, max_len=6, dim=32, n_layers=2, n_heads=4))
    ids = torch.tensor([[1, 5, 6, 0, 0, 0], [1, 2, 3, 4, 7, 8]])
    tokens, mask = enc(ids)
    assert tokens.shape == (2, 6, 32) and mask.tolist() == (ids != 0).tolist()
    assert torch.isfinite(tokens).all()
    with pytest.raises(ValueError, match="LongTensor"):
        enc(ids.float())
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        enc(ids[:, :4])


def test_text_encoder_ignores_what_sits_in_padding():
    torch.manual_seed(0)
    enc = TextEncoder(TextEncoderConfig(vocab_size=12, max_len=6, dim=32)).eval()
    a = torch.tensor([[1, 5, 6, 0, 0, 0]])
    tokens, _ = enc(a)
    with torch.no_grad():
        enc.pos_emb[3:] += 5.0  # changes the padded positions' vectors only
    tokens2, _ = enc(a)
    assert torch.allclose(tokens[:, :3], tokens2[:, :3], atol=1e-5)


def test_attention_weights_rows_sum_to_one_and_skip_padding():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 8, n_heads=2)
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    w = mha.weights(x, ctx, mask)
    assert w.shape == (2, 2, 5, 4) and torch.allclose(w.sum(-1), torch.ones(2, 2, 5))
    assert (w[0, :, :, 2:] == 0).all()
