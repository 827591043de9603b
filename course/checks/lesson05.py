"""Exercise checks of 05_autoencoder: PSNR, the reparameterisation trick, the KL term."""
from __future__ import annotations

import math
from typing import Callable

import torch

from course.autoencoder import kl_divergence
from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor
from course.metrics import psnr


@exercise_check
def check_psnr(fn: Callable) -> None:
    """Check `fn(x, target)` returns the PSNR in dB for images in [0, 1] (05_autoencoder)."""
    g = torch.Generator().manual_seed(2)
    target = torch.rand(4, 1, 8, 8, generator=g)
    x = (target + 0.1 * torch.randn(4, 1, 8, 8, generator=g)).clamp(0, 1)
    got = fn(x, target)
    expect(got is not None, "your function returned None: did you forget `return`?")
    got = float(got)
    want = psnr(x, target)
    mse = torch.mean((x - target) ** 2).item()
    if math.isclose(got, mse, rel_tol=1e-3):
        raise Hint("this is the mean squared error itself: PSNR = 10 * log10(1 / MSE) in dB")
    if math.isclose(got, 20 * math.log10(1 / mse), rel_tol=1e-3):
        raise Hint("20 * log10 is for a ratio of amplitudes; MSE is already squared, so use 10 * log10(1 / MSE)")
    if math.isclose(got, 10 * math.log(1 / mse), rel_tol=1e-3):
        raise Hint("use log base 10 (math.log10 or torch.log10), not the natural log")
    if math.isclose(got, -want, rel_tol=1e-3):
        raise Hint("the sign is flipped: 10 * log10(1 / MSE), the better the match the higher the PSNR")
    mean_of_psnrs = sum(psnr(x[i : i + 1], target[i : i + 1]) for i in range(4)) / 4
    if math.isclose(got, mean_of_psnrs, rel_tol=1e-4) and not math.isclose(got, want, rel_tol=1e-4):
        raise Hint("you averaged a PSNR per image; here the MSE is averaged over all pixels of the batch first")
    expect(math.isclose(got, want, rel_tol=1e-4), f"got {got:.4f} dB, expected {want:.4f} dB: 10 * log10(1 / mean((x - target)^2))")


@exercise_check
def check_reparameterise(fn: Callable) -> None:
    """Check `fn(mu, logvar)` returns mu + exp(logvar / 2) * eps with eps ~ N(0, I), with gradients (05_autoencoder)."""
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 2.0, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(9.0), requires_grad=True)  # sigma = 3
    z = expect_tensor(fn(mu, logvar))
    expect_shape(z, (20000, 2), "z")
    expect(z.requires_grad, "no gradient flows through z: build it from mu and logvar with torch operations "
                            "(eps = torch.randn_like(mu)); torch.normal(mu, std) cuts the gradient")
    std = z.detach().std().item()
    expect(std > 0.5, "z has no spread: add the noise, sigma * eps with eps = torch.randn_like(mu)")
    expect(abs(z.detach().mean().item() - 2.0) < 0.1, f"the mean of z is {z.detach().mean().item():.2f}, expected mu = 2: z = mu + sigma * eps")
    if abs(std - 9.0) < 0.3:
        raise Hint("the spread is exp(logvar) = the variance; the standard deviation is sigma = exp(0.5 * logvar)")
    if abs(std - math.log(9.0)) < 0.15:
        raise Hint("logvar is the log of the variance: sigma = exp(0.5 * logvar), not logvar itself")
    expect(abs(std - 3.0) < 0.1, f"the standard deviation of z is {std:.2f}, expected sigma = exp(0.5 * logvar) = 3")
    z.sum().backward()
    expect(mu.grad is not None and torch.allclose(mu.grad, torch.ones_like(mu)), "dz/dmu should be 1: z = mu + sigma * eps")
    expect(logvar.grad is not None and logvar.grad.abs().mean() > 0.1, "no gradient reaches logvar: compute sigma from logvar inside the function")


@exercise_check
def check_kl_divergence(fn: Callable) -> None:
    """Check `fn(mu, logvar)` returns KL(N(mu, sigma^2) || N(0, I)) per image, shape (B,) (05_autoencoder)."""
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    got = expect_tensor(fn(mu, logvar))
    want = kl_divergence(mu, logvar)
    if got.ndim == 0:
        raise Hint("you returned one number: sum over the latent dimensions only, keep one KL per image, shape (B,)")
    if got.shape == mu.shape:
        raise Hint(f"got shape {tuple(got.shape)}: sum over the latent dimensions, one KL per image, shape (B,)")
    expect_shape(got, (5,), "the KL per image")
    if torch.allclose(got, 2 * want, atol=1e-4):
        raise Hint("twice too large: the formula starts with 0.5 *")
    if torch.allclose(got, -want, atol=1e-4):
        raise Hint("the sign is flipped: a KL divergence is never negative; 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)")
    if torch.allclose(got, want / 3, atol=1e-4):
        raise Hint("you averaged over the latent dimensions: sum them instead")
    expect(got.min() >= -1e-6, "a KL divergence is never negative: check the signs, 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)")
    expect_close(got, want, "the KL per image", atol=1e-4)
    zero = expect_tensor(fn(torch.zeros(2, 4), torch.zeros(2, 4)))
    expect(torch.allclose(zero, torch.zeros(2), atol=1e-6), "KL should be 0 when mu = 0 and logvar = 0 (q equals the prior N(0, I))")
