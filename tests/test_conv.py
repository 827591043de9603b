import pytest
import torch
import torch.nn.functional as F

from course.conv import (conv2d_im2col, conv2d_loops, conv_output_size, maxpool2d, receptive_field, shift_images,
                         unfold)

CASES = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 2)]  # (stride, padding)


@pytest.mark.parametrize("stride, padding", CASES)
def test_conv_loops_and_im2col_match_torch(stride, padding):
    g = torch.Generator().manual_seed(0)
    x, weight, bias = torch.randn(2, 3, 7, 6, generator=g), torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g)
    want = F.conv2d(x, weight, bias, stride=stride, padding=padding)
    assert torch.allclose(conv2d_loops(x, weight, bias, stride, padding), want, atol=1e-5)
    assert torch.allclose(conv2d_im2col(x, weight, bias, stride, padding), want, atol=1e-5)
    assert torch.allclose(conv2d_im2col(x, weight, None, stride, padding), F.conv2d(x, weight, None, stride, padding), atol=1e-5)


@pytest.mark.parametrize("k, stride, padding", [(3, 1, 0), (2, 2, 0), (3, 2, 1), (5, 1, 2)])
def test_unfold_matches_torch(k, stride, padding):
    x = torch.randn(2, 3, 8, 9)
    assert torch.equal(unfold(x, k, stride, padding), F.unfold(x, k, stride=stride, padding=padding))


@pytest.mark.parametrize("n, k, p, s", [(28, 3, 0, 1), (28, 3, 1, 1), (28, 4, 1, 2), (7, 3, 0, 2), (5, 5, 0, 1), (6, 2, 0, 2)])
def test_output_size_matches_conv(n, k, p, s):
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p)
    assert conv_output_size(n, k, p, s) == out.shape[-1]


def test_output_size_rejects_too_big_kernel():
    with pytest.raises(ValueError, match="larger"):
        conv_output_size(2, 5)


@pytest.mark.parametrize("k, s", [(2, None), (3, 1), (3, 2)])
def test_maxpool_matches_torch(k, s):
    x = torch.randn(2, 3, 9, 8)
    assert torch.equal(maxpool2d(x, k, s), F.max_pool2d(x, k, s))


def test_receptive_field_known_values():
    assert receptive_field([(3, 1)]) == [3]
    assert receptive_field([(3, 1), (3, 1)]) == [3, 5]
    assert receptive_field([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]) == [3, 4, 8, 10, 18]


def test_receptive_field_matches_gradient():
    layers = [torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.AvgPool2d(2), torch.nn.Conv2d(1, 1, 3, padding=1)]  # avg: every pixel gets gradient
    for m in layers:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 1.0)
    x = torch.rand(1, 1, 20, 20, requires_grad=True)
    torch.nn.Sequential(*layers)(x)[0, 0, 5, 5].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).sum().item()
    assert rows == receptive_field([(3, 1), (2, 2), (3, 1)])[-1]


def test_shift_images():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = shift_images(x, 1, 2)
    assert y[0, 0, 2, 1] == x[0, 0, 0, 0] and y[0, 0, :2].abs().sum() == 0 and y[0, 0, :, 0].abs().sum() == 0
    assert torch.equal(shift_images(shift_images(x, -1, 0), 1, 0)[..., 1:], x[..., 1:])
    assert torch.equal(shift_images(x, 0, 0), x)
