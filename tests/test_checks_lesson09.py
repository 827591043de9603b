import math


from course.checks.lesson09 import check_attention, check_encode_caption
from course.attention import attention
from course.text import PAD, START, words_of
from exercise_checks import assert_hints, assert_not_done


def _encode(caption, vocab, max_len):
    ids = [vocab.index(START)] + [vocab.index(w) for w in words_of(caption)]
    return ids + [vocab.index(PAD)] * (max_len - len(ids))


def test_blank_exercises_say_not_done(capsys):
    for check in (check_encode_caption, check_attention):
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
