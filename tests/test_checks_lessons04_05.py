"""Each check of lesson 05 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import math

import torch

from course.checks import lesson05
from course.autoencoder import kl_divergence
from course.metrics import psnr
from exercise_checks import assert_hints, assert_not_done, assert_passes


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
