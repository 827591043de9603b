"""Each check of lessons 04-05 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import math

import torch
import torch.nn.functional as F

from course.checks import lesson04, lesson05
from course.autoencoder import kl_divergence
from course.conv import conv2d_im2col, conv_output_size, maxpool2d
from course.metrics import psnr
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_output_size(capsys):
    assert_passes(lesson04.check_output_size, conv_output_size, capsys)
    assert_not_done(lesson04.check_output_size, capsys)
    assert_hints(lesson04.check_output_size, {
        "+ 1": lambda n, k, p, s: (n + 2 * p - k) // s,
        "BOTH sides": lambda n, k, p, s: (n + p - k) // s + 1,
        "divide by the stride": lambda n, k, p, s: n + 2 * p - k + 1,
        "floor division": lambda n, k, p, s: (n + 2 * p - k) / s + 1,
        "return": lambda n, k, p, s: None,
    }, capsys)


def test_conv2d_im2col(capsys):
    def with_f_unfold(x, weight, bias=None, stride=1, padding=0):
        b, _, h, w = x.shape
        c_out, _, k, _ = weight.shape
        out = weight.reshape(c_out, -1) @ F.unfold(x, k, stride=stride, padding=padding)
        if bias is not None:
            out = out + bias[:, None]
        return out.reshape(b, c_out, (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)

    assert_passes(lesson04.check_conv2d_im2col, conv2d_im2col, capsys)
    assert_passes(lesson04.check_conv2d_im2col, with_f_unfold, capsys)
    assert_not_done(lesson04.check_conv2d_im2col, capsys)
    assert_hints(lesson04.check_conv2d_im2col, {
        "bias is missing": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, None, s, p),
        "flipped the kernel": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w.flip(-1, -2), b, s, p),
        "stride=1, padding=1": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, b, s, 0),
        "stride=2": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, b, 1, p),
    }, capsys)


def test_maxpool2d(capsys):
    assert_passes(lesson04.check_maxpool2d, maxpool2d, capsys)
    assert_passes(lesson04.check_maxpool2d, lambda x, k: F.max_pool2d(x, k), capsys)
    assert_not_done(lesson04.check_maxpool2d, capsys)
    assert_hints(lesson04.check_maxpool2d, {
        "average pooling": lambda x, k: F.avg_pool2d(x, k),
        "overlap": lambda x, k: maxpool2d(x, k, 1),
        "channel": lambda x, k: maxpool2d(x, k).amax(1, keepdim=True),
    }, capsys)


def test_psnr(capsys):
    def mse(x, t):
        return torch.mean((x - t) ** 2).item()

    assert_passes(lesson05.check_psnr, psnr, capsys)
    assert_passes(lesson05.check_psnr, lambda x, t: 10 * torch.log10(1 / torch.mean((x - t) ** 2)), capsys)
    assert_not_done(lesson05.check_psnr, capsys)
    assert_hints(lesson05.check_psnr, {
        "mean squared error itself": mse,
        "20 * log10": lambda x, t: 20 * math.log10(1 / mse(x, t)),
        "base 10": lambda x, t: 10 * math.log(1 / mse(x, t)),
        "sign is flipped": lambda x, t: -psnr(x, t),
        "PSNR per image": lambda x, t: sum(psnr(x[i : i + 1], t[i : i + 1]) for i in range(len(x))) / len(x),
    }, capsys)


def test_reparameterise(capsys):
    def solution(mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    assert_passes(lesson05.check_reparameterise, solution, capsys)
    assert_not_done(lesson05.check_reparameterise, capsys)
    assert_hints(lesson05.check_reparameterise, {
        "variance": lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu),
        "not logvar itself": lambda mu, logvar: mu + logvar * torch.randn_like(mu),
        "no spread": lambda mu, logvar: mu,
        "cuts the gradient": lambda mu, logvar: torch.normal(mu.detach(), torch.exp(0.5 * logvar.detach())),
        "expected mu = 2": lambda mu, logvar: torch.exp(0.5 * logvar) * torch.randn_like(mu),
    }, capsys)


def test_kl_divergence(capsys):
    assert_passes(lesson05.check_kl_divergence, kl_divergence, capsys)
    assert_not_done(lesson05.check_kl_divergence, capsys)
    assert_hints(lesson05.check_kl_divergence, {
        "one number": lambda mu, lv: kl_divergence(mu, lv).mean(),
        "one KL per image": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1),
        "0.5 *": lambda mu, lv: 2 * kl_divergence(mu, lv),
        "sign is flipped": lambda mu, lv: -kl_divergence(mu, lv),
        "averaged over the latent": lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).mean(1),
    }, capsys)
