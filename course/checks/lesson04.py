"""Exercise checks of 04_cnn: convolution by im2col, max-pooling, batch normalisation, the CNN module."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values


@exercise_check
def check_conv2d_im2col(fn: Callable) -> str:
    """Check `fn(x, weight, bias, stride, padding)` equals F.conv2d (04_cnn)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 5, generator=g)
    weight, bias = torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g)
    got = expect_tensor(fn(x, weight, bias, 1, 0))
    want = F.conv2d(x, weight, bias)
    expect_shape(got, tuple(want.shape), "the output (stride 1, no padding)")
    if torch.allclose(got, want - bias[:, None, None], atol=1e-4):
        raise Hint("the bias is missing: add bias[:, None] (one number per output channel) to the product")
    if torch.allclose(got, F.conv2d(x, weight.flip(-1, -2), bias), atol=1e-4):
        raise Hint("you flipped the kernel: PyTorch's 'convolution' is a cross-correlation, use the weights as they are")
    expect_close(got, want, "the output (stride 1, no padding)", atol=1e-4)
    got = expect_tensor(fn(x, weight, None, 1, 0))
    expect_close(got, F.conv2d(x, weight), "the output with bias=None", atol=1e-4)
    for stride, padding in [(1, 1), (2, 0), (2, 1)]:
        want = F.conv2d(x, weight, bias, stride=stride, padding=padding)
        got = expect_tensor(fn(x, weight, bias, stride, padding))
        expect_shape(got, tuple(want.shape), f"the output with stride={stride}, padding={padding} "
                     "(pass stride and padding on to unfold, and use them in the output size)")
        expect_close(got, want, f"the output with stride={stride}, padding={padding}", atol=1e-4)
    return "Same numbers as F.conv2d, from a single matrix product."


@exercise_check
def check_maxpool2d(fn: Callable) -> None:
    """Check `fn(x, kernel_size)` equals F.max_pool2d with stride = kernel_size (04_cnn)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 8, 6, generator=g)
    got = expect_tensor(fn(x, 2))
    want = F.max_pool2d(x, 2)
    if got.shape == (2, 3, 7, 5):
        raise Hint(f"got shape {tuple(got.shape)}: the windows overlap. Move by the kernel size (stride = kernel_size)")
    if got.shape == (2, 1, 4, 3) or got.shape == (2, 4, 3):
        raise Hint(f"got shape {tuple(got.shape)}: pool every channel on its own, keep the channel dimension")
    expect_shape(got, tuple(want.shape), "the pooled images")
    if torch.allclose(got, F.avg_pool2d(x, 2), atol=1e-5):
        raise Hint("this is average pooling: take the largest value of each window (.max), not the mean")
    expect_close(got, want, "the pooled images (kernel 2)")
    expect_close(expect_tensor(fn(x, 3)), F.max_pool2d(x, 3), "the pooled images (kernel 3; rows or columns left over are dropped)")


@exercise_check
def check_batch_norm(fn: Callable) -> None:
    """Check `fn(x, gamma, beta, eps)` equals F.batch_norm in training mode: per-channel statistics of the batch (04_cnn)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 5, 5, generator=g) * torch.tensor([1.0, 3.0, 0.5])[:, None, None] + 2.0
    gamma, beta = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.0, -1.0, 3.0])
    want = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    got = expect_tensor(fn(x, gamma, beta, 1e-5), "the normalised batch")
    expect_shape(got, tuple(x.shape), "the normalised batch (same shape as x)")
    if same_values(got, F.batch_norm(x, None, None, training=True, eps=1e-5), 1e-4):
        raise Hint("gamma and beta are missing: after normalising, scale by gamma and shift by beta, one of each per "
                   "channel, gamma[None, :, None, None]")
    if same_values(got, F.instance_norm(x, weight=gamma, bias=beta, eps=1e-5), 1e-4):
        raise Hint("statistics per image and channel (dim=(2, 3)) is instance norm: BatchNorm averages over the batch "
                   "too, dim=(0, 2, 3)")
    per_image = gamma[:, None, None] * F.layer_norm(x, x.shape[1:], eps=1e-5) + beta[:, None, None]
    if same_values(got, per_image, 1e-4):
        raise Hint("statistics over each whole image (dim=(1, 2, 3)) mixes the channels: BatchNorm keeps one mean and "
                   "variance per channel, over the batch and all positions, dim=(0, 2, 3)")
    per_pixel = (x - x.mean(0)) / (x.var(0, unbiased=False) + 1e-5).sqrt()
    if same_values(got, gamma[:, None, None] * per_pixel + beta[:, None, None], 1e-4):
        raise Hint("statistics over the batch only (dim=0) give one mean per pixel position: a conv layer's BatchNorm "
                   "pools the batch AND all positions of a channel, dim=(0, 2, 3)")
    unbiased = (x - x.mean((0, 2, 3), keepdim=True)) / (x.var((0, 2, 3), keepdim=True) + 1e-5).sqrt()
    if same_values(got, gamma[:, None, None] * unbiased + beta[:, None, None], 1e-5):
        raise Hint("BatchNorm normalises with the biased variance (divide by n, not n - 1): x.var(..., unbiased=False)")
    expect_close(got, want, "the normalised batch", atol=1e-4)
    flat = torch.zeros(2, 1, 3, 3)  # a channel with no variation: only eps keeps the division finite
    got_flat = expect_tensor(fn(flat, torch.ones(1), torch.zeros(1), 1e-5), "the normalised constant batch")
    expect(torch.isfinite(got_flat).all(), "a constant channel gives nan: add eps to the variance before the square root")


def _module_types(model: nn.Module) -> list[str]:
    """Return the class names of the layers that do the work, in the order they were registered."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)
    return [type(m).__name__ for m in model.modules() if isinstance(m, kinds)]


@exercise_check
def check_small_cnn(cls: type) -> str:
    """Check `cls(cfg)` builds course.cnn.CNN's layers under the same names, and its forward gives the same logits (04_cnn)."""
    from course.cnn import CNN, CNNConfig

    cfg = CNNConfig()
    reference = CNN(cfg).eval()
    with torch.random.fork_rng(devices=[]):  # building the learner's model leaves the notebook's random numbers alone
        model = cls(cfg)
    expect(isinstance(model, nn.Module), f"SmallCNN(cfg) should be an nn.Module, got {type(model).__name__}")
    want_types, got_types = _module_types(reference), _module_types(model)
    if got_types.count("BatchNorm2d") < want_types.count("BatchNorm2d"):
        raise Hint("a BatchNorm2d is missing: every block is conv, batch norm, ReLU (then max-pool)")
    if got_types.count("MaxPool2d") != want_types.count("MaxPool2d"):
        raise Hint(f"{got_types.count('MaxPool2d')} max-pools, expected {want_types.count('MaxPool2d')}: every block but "
                   "the last halves H and W (28 -> 14 -> 7), `if i < len(cfg.widths) - 1`")
    expect(got_types == want_types, f"the layers should be, in order, {want_types}; you have {got_types}")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if any(c.padding in (0, (0, 0)) for c in convs):
        raise Hint("a convolution without padding shrinks the maps by 2 pixels each time: padding=cfg.kernel_size // 2 "
                   "keeps H and W ('same' padding)")
    want_names = [name for name, _ in reference.named_parameters()]
    got_names = [name for name, _ in model.named_parameters()]
    expect(got_names == want_names, f"name the parts like the package's CNN (self.blocks, a ModuleList of one "
                                    f"nn.Sequential per block, and self.head): expected {want_names[:3]}..., "
                                    f"got {got_names[:3]}...")
    model.load_state_dict(reference.state_dict())  # the same weights: the same logits if forward is right
    model.eval()
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = expect_tensor(model(x), "the logits")
        want = reference(x)
    expect_shape(got, (3, cfg.n_classes), "the logits for 3 images")
    with torch.no_grad():
        if same_values(got, reference((x + 1) / 2), 1e-4):
            raise Hint("rescale the images from [0, 1] to [-1, 1] first, x * 2 - 1 (centred inputs, as the package does)")
    expect_close(got, want, "the logits (with the package's weights loaded)", atol=1e-4)
    return f"{sum(p.numel() for p in model.parameters()):,} parameters, the same logits as course.cnn.CNN."


def small_cnn_or_reference(cls: type, cfg) -> nn.Module:
    """Return `cls(cfg)`, seeded exactly as course.cnn.CNN seeds itself, if it passes check_small_cnn (checked
    silently); else the package's CNN(cfg). Both start from the same weights: the lesson trains either."""
    from course.cnn import CNN

    try:
        check_small_cnn.__wrapped__(cls)
    except Exception:  # blank (NotImplementedError) or not yet right: train the package's CNN
        return CNN(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return cls(cfg)
