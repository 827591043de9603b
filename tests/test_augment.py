"""Affine-grid augmentations against exact pixel operations, and standardisation with training statistics."""
import pytest
import torch

from course.data.augment import (AugmentConfig, AugmentLoader, channel_stats, hflip, random_augment, rotate, rotation_theta,
                            shift, standardise, zoom)
from course.train import TensorLoader


def images(n=3, c=2, size=8):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


def test_rotate_90_equals_rot90_anticlockwise():
    x = images()
    assert torch.allclose(rotate(x, 90), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(rotate(x, 0), x, atol=1e-6)
    assert rotation_theta(torch.tensor([0.0, 30.0])).shape == (2, 2, 3)


def test_shift_by_one_pixel_moves_right_and_down():
    x = images()
    moved = shift(x, 1 / 8, 2 / 8)
    assert torch.allclose(moved[..., 2:, 1:], x[..., :-2, :-1], atol=1e-5)
    assert moved[..., :2, :].abs().max() < 1e-6 and moved[..., :, :1].abs().max() < 1e-6


def test_zoom_two_shows_the_centre_and_flip_is_exact():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 3:5, 3:5] = 1
    assert zoom(x, 2.0)[..., 2:6, 2:6].min() > 0.5 and zoom(x, 2.0)[..., 0, :].max() < 1e-6
    assert torch.equal(hflip(hflip(x)), x) and torch.equal(hflip(x), x.flip(-1))


def test_random_augment_is_seeded_and_keeps_shapes():
    x = images(4, 1, 12)
    cfg = AugmentConfig(degrees=20, zoom=(0.8, 1.2), shift=0.1, flip=0.5)
    a = random_augment(x, cfg, torch.Generator().manual_seed(1))
    b = random_augment(x, cfg, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, x)
    identity = AugmentConfig(degrees=0, zoom=(1, 1), shift=0, flip=0)
    assert torch.allclose(random_augment(x, identity), x, atol=1e-5)
    dl = AugmentLoader(TensorLoader(x, torch.arange(4), batch_size=2), cfg)
    assert len(dl) == 2 and [xb.shape for xb, _ in dl] == [(2, 1, 12, 12)] * 2


def test_standardise_uses_given_statistics_per_channel():
    x = images(10, 3) * torch.tensor([1.0, 2.0, 3.0])[:, None, None] + torch.tensor([0.0, 5.0, -1.0])[:, None, None]
    mean, std = channel_stats(x)
    assert mean.shape == std.shape == (3,)
    z = standardise(x, mean, std)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5)
    assert torch.allclose(z * std[:, None, None] + mean[:, None, None], x, atol=1e-5)
    with pytest.raises(ValueError, match="4 dimensions"):
        channel_stats(x[0])
