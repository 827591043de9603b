"""Exercise checks of 04_cnn: a convolution's output size, convolution by im2col, max-pooling."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor
from course.conv import conv_output_size


@exercise_check
def check_output_size(fn: Callable) -> None:
    """Check `fn(n, kernel_size, padding, stride)` gives a convolution's output length (04_cnn)."""
    cases = [(28, 3, 0, 1), (28, 3, 1, 1), (28, 5, 2, 1), (28, 2, 0, 2), (28, 4, 1, 2), (7, 3, 0, 2), (6, 3, 1, 2)]
    got = [fn(*case) for case in cases]
    for (n, k, p, s), value in zip(cases, got):
        expect(value is not None, "your function returned None: did you forget `return`?")
        expect(isinstance(value, int) or (isinstance(value, float) and value.is_integer()),
               f"for n={n}, kernel_size={k}, padding={p}, stride={s} you returned {value!r}, "
               "not a whole number: use floor division `//`")
    usual_mistakes = [  # (wrong formula, what to fix)
        (lambda n, k, p, s: (n + p - k) // s + 1, "padding adds p pixels on BOTH sides (2 * p)"),
        (lambda n, k, p, s: n + 2 * p - k + 1, "divide by the stride before adding 1"),
        (lambda n, k, p, s: math.ceil((n + 2 * p - k) / s) + 1, "round down (floor): a window may not hang over the edge"),
        (lambda n, k, p, s: (n + 2 * p - k) // s, "count the first position too (+ 1)"),
    ]
    for wrong, fix in usual_mistakes:
        if all(value == wrong(*case) for case, value in zip(cases, got)):
            raise Hint(fix)
    for (n, k, p, s), value in zip(cases, got):
        want = conv_output_size(n, k, p, s)
        expect(value == want, f"for n={n}, kernel_size={k}, padding={p}, stride={s} you gave {value}, "
                              f"expected {want}: out = floor((n + 2p - k) / s) + 1")


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
