
import pytest
import torch

from course.data import load_dataset
from course.data.glyphs import GlyphStyle, digit_fonts, glyph_digits, render_digits
from course.data.sequences import bounce, moving_sequences
from course.data.shapes import ATTRIBUTES, _matches, caption, shapes_dataset


def test_only_fonts_that_draw_digits():
    fonts = digit_fonts()
    assert len(fonts) >= 15
    for symbol_font in ("cmsy10", "cmex10", "LastResortHE-Regular", "DejaVuSansDisplay"):
        assert symbol_font not in fonts


def test_glyph_digits_shapes_range_balance_and_determinism():
    a = glyph_digits(n_train=200, n_test=50, seed=1)
    b = glyph_digits(n_train=200, n_test=50, seed=1)
    assert a.x_train.shape == (200, 1, 28, 28) and a.x_test.shape == (50, 1, 28, 28)
    assert a.x_train.dtype == torch.float32 and 0 <= a.x_train.min() and a.x_train.max() <= 1
    assert torch.bincount(a.y_train).tolist() == [20] * 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, glyph_digits(n_train=200, n_test=50, seed=2).x_train)


def test_distortions_make_each_image_different():
    labels = torch.full((8,), 3)
    fonts = torch.zeros(8, dtype=torch.long)
    warped = render_digits(labels, fonts=fonts)
    clean = render_digits(labels, fonts=fonts, style=GlyphStyle(0, (1, 1), 0, 0, 0, ("normal",)))
    assert torch.allclose(clean[0], clean[7])
    assert (warped[0] - warped[7]).abs().max() > 0.5


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="digits 0..9"):
        render_digits(torch.tensor([10]))


def test_shapes_captions_and_held_out_combinations():
    held = [{"colour": "green", "shape": "triangle"}]
    ds = shapes_dataset(n_train=600, n_test=600, seed=0, held_out=held)
    assert ds.x_train.shape == (600, 3, 32, 32) and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert not _matches(ds.attrs_train, held[0]).any()
    assert _matches(ds.attrs_test, held[0]).any()
    i = 5
    names = {k: ATTRIBUTES[k][ds.attrs_train[k][i]] for k in ATTRIBUTES}
    assert ds.captions_train[i] == caption(**names)
    assert caption("circle", "red", "small", "top left") == "a small red circle at the top left"
    assert caption("cross", "blue", "large", "centre") == "a large blue cross in the centre"


def test_shape_colour_is_visible():
    ds = shapes_dataset(n_train=50, n_test=0, seed=3)
    red = ATTRIBUTES["colour"].index("red")
    i = int((ds.attrs_train["colour"] == red).nonzero()[0])
    brightest = ds.x_train[i].amax(dim=(1, 2))
    assert brightest[0] > 0.8 and brightest[1] < 0.4


def test_unknown_attribute_value_is_named():
    with pytest.raises(ValueError, match="unknown attribute colour='pink'"):
        shapes_dataset(n_train=10, n_test=0, held_out=[{"colour": "pink"}])


def test_bounce_stays_inside_and_reflects():
    pos = bounce(torch.tensor([0.0]), torch.tensor([3.0]), 10, 10.0)
    assert pos.min() >= 0 and pos.max() <= 10
    assert pos[0, :5].tolist() == [0, 3, 6, 9, 8]


def test_moving_sequences_shape_and_motion():
    frames, labels = moving_sequences(n=6, n_frames=5, n_objects=2, seed=0)
    assert frames.shape == (6, 5, 1, 32, 32) and labels.shape == (6, 2)
    assert (frames[:, 0] - frames[:, -1]).abs().amax() > 0.3  # things moved
    colour, _ = moving_sequences(n=2, n_frames=3, kind="shapes")
    assert colour.shape == (2, 3, 3, 32, 32)
    with pytest.raises(ValueError, match="choose from glyphs, mnist, fashion-mnist, shapes"):
        moving_sequences(n=2, kind="cats")


def test_unknown_data_set_suggests_a_name():
    with pytest.raises(ValueError, match="Did you mean 'glyphs'"):
        load_dataset("glyph")
    assert load_dataset("glyphs", n_train=10, n_test=10).x_train.shape == (10, 1, 28, 28)


def test_shapes_several_held_out_combinations_all_stay_out():
    held = [{"colour": "green", "shape": "triangle"}, {"colour": "yellow", "shape": "cross"},
            {"shape": "circle", "position": "bottom right"}]
    ds = shapes_dataset(n_train=3000, n_test=0, seed=0, held_out=held)
    assert not any(_matches(ds.attrs_train, combo).any() for combo in held)
