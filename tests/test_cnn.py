import pytest
import torch
import torch.nn.functional as F

from course.cnn import CNN, CNNConfig, count_parameters
from course.conv import receptive_field
from course.data.glyphs import clean_glyphs


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_shapes_and_feature_maps():
    model = CNN(CNNConfig(widths=(4, 8, 8)))
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    maps = model.feature_maps(x)
    assert [tuple(m.shape) for m in maps] == [(3, 4, 14, 14), (3, 8, 7, 7), (3, 8, 7, 7)]


def test_same_config_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = CNN(CNNConfig(widths=(4, 8))), CNN(CNNConfig(widths=(4, 8)))
    assert torch.equal(torch.rand(1), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_geometry_and_receptive_field():
    model = CNN(CNNConfig())
    assert model.layer_geometry() == [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]
    assert receptive_field(model.layer_geometry())[-1] == 18
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_single_batch_overfit():
    torch.manual_seed(0)
    x = F.interpolate(clean_glyphs()[0][:, None], size=(14, 14), mode="area")  # the ten digits of one font, small
    y = torch.arange(10)
    model = CNN(CNNConfig(size=14, widths=(8, 16)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(45):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (logits.argmax(1) == y).all() and loss.item() < 0.5
