import torch

from course.data.glyphs import course_digits, glyph_digits, mixed_fonts
from course.data.handwriting import ALLOGRAPHS, PenStyle, allograph_images, draw_digits, drawing_stages


def test_drawn_digits_shape_range_and_determinism():
    labels = torch.arange(40) % 10
    a = draw_digits(labels, generator=torch.Generator().manual_seed(1))
    b = draw_digits(labels, generator=torch.Generator().manual_seed(1))
    assert a.shape == (40, 1, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, draw_digits(labels, generator=torch.Generator().manual_seed(2)))
    assert a.min() >= 0 and a.max() <= 1 and (a.amax((1, 2, 3)) > 0.9).all()  # every image has solid ink


def test_mnist_normalisation_box_and_centre_of_mass():
    x = draw_digits(torch.arange(200) % 10, generator=torch.Generator().manual_seed(0))[:, 0]
    ink = x > 0.05
    rows, cols = ink.any(2), ink.any(1)
    height, width = rows.sum(1).float(), cols.sum(1).float()
    assert height.max() <= 22 and torch.maximum(height, width).min() >= 17  # the longer side fills about 20 px
    coords = torch.arange(28).float() + 0.5
    mass = x.sum((1, 2))
    cy, cx = (x.sum(2) * coords).sum(1) / mass, (x.sum(1) * coords).sum(1) / mass
    assert (cy - 14).abs().max() < 1.0 and (cx - 14).abs().max() < 1.0  # centred by centre of mass


def test_every_allograph_draws_and_stages_add_variation():
    images, titles = allograph_images()
    assert len(images) == sum(len(v) for v in ALLOGRAPHS.values()) == len(titles)
    assert all(len(ALLOGRAPHS[d]) >= 2 for d in range(10))  # several ways to write every digit
    stages = drawing_stages(torch.tensor([4, 7]), seed=0)
    steps = list(stages.values())
    assert all(s.shape == (2, 1, 28, 28) for s in steps)
    assert all(not torch.equal(a, b) for a, b in zip(steps, steps[1:]))


def test_bad_labels_are_refused():
    import pytest

    with pytest.raises(ValueError, match="digits 0..9"):
        draw_digits(torch.tensor([3, 11]))


def test_course_digits_mix_and_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert "DejaVuSans" in mixed_fonts() and not any(k in f for f in mixed_fonts() for k in ("Mono", "Serif", "Bold"))
    x = course_digits(torch.arange(20) % 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, (x * 255).round() / 255)  # 8-bit levels, like MNIST
    a = glyph_digits(n_train=50, n_test=20, seed=5)
    assert list(tmp_path.joinpath("data").iterdir())  # written to the cache
    b = glyph_digits(n_train=50, n_test=20, seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert "pen strokes" in a.info["sources"]


def test_style_without_variation_draws_the_same_digit_twice():
    still = PenStyle(jitter=0, slant=0, rotation=0, squeeze=(1, 1), elastic=0, pen=(1.2, 1.2), pressure=0,
                     softness=(1, 1))
    x = draw_digits(torch.zeros(8, dtype=torch.long), still, torch.Generator().manual_seed(0))
    y = draw_digits(torch.zeros(8, dtype=torch.long), still, torch.Generator().manual_seed(7))
    assert all(any(torch.allclose(a, b) for b in y) for a in x)  # only the choice of allograph can differ
