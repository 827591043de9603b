"""Exercise checks of 08_diffusion: the forward noising, one DDIM step, classifier-free guidance.

Taught in 08_diffusion. Each check runs the learner's function on small inputs and prints ✓, or ✗
with a hint about the usual mistake (see course.checks).
"""
from __future__ import annotations

from typing import Callable

import torch

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor
from course.diffusion import NoiseSchedule, ScheduleConfig


def reference_add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Return x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, one step t per image (eq. 4 of Ho et al. 2020)."""
    ab = alpha_bar[t].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def reference_ddim_step(x_t: torch.Tensor, eps_hat: torch.Tensor, ab_t: float, ab_prev: float) -> torch.Tensor:
    """Return x at the earlier step from x_t and the predicted noise (deterministic DDIM, eq. 12 of Song et al. 2021)."""
    ab_t, ab_prev = torch.as_tensor(ab_t), torch.as_tensor(ab_prev)
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps_hat) / ab_t.sqrt()
    return ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps_hat


def reference_guidance(out_cond: torch.Tensor, out_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Return the classifier-free guided output uncond + w (cond - uncond): w=0 unconditional, w=1 conditional."""
    return out_uncond + w * (out_cond - out_uncond)


def _noising_inputs():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 5, 6, generator=g) * 2 - 1
    noise = torch.randn(3, 1, 5, 6, generator=g)
    alpha_bar = NoiseSchedule(ScheduleConfig(100)).alpha_bar
    return x0, torch.tensor([5, 50, 95]), noise, alpha_bar


@exercise_check
def check_add_noise(fn: Callable) -> None:
    """Check `fn(x0, t, noise, alpha_bar)` returns x_t of the forward process q(x_t | x_0)."""
    x0, t, noise, alpha_bar = _noising_inputs()
    try:
        got = expect_tensor(fn(x0, t, noise, alpha_bar))
    except RuntimeError as err:
        if "size of tensor" in str(err) or "must match" in str(err):
            raise Hint("alpha_bar[t] has shape (B,) and cannot multiply images (B, C, H, W): "
                       "reshape it to (B, 1, 1, 1) with .reshape(-1, 1, 1, 1)") from None
        raise
    expect_shape(got, tuple(x0.shape), "x_t")
    ab = alpha_bar[t].reshape(-1, 1, 1, 1)
    if torch.allclose(got, ab * x0 + (1 - ab) * noise, atol=1e-5):
        raise Hint("the weights need square roots: sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * noise, "
                   "so that the variance of x_t stays 1 (their squares add up to 1)")
    if torch.allclose(got, (1 - ab).sqrt() * x0 + ab.sqrt() * noise, atol=1e-5):
        raise Hint("the weights are swapped: the image gets sqrt(alpha_bar), which is near 1 at small t (little noise)")
    expect(not torch.allclose(got, alpha_bar[t.max()].sqrt() * x0 + (1 - alpha_bar[t.max()]).sqrt() * noise, atol=1e-5),
           "every image got the same noise level: use alpha_bar[t] (one value per image), not a single step")
    expect_close(got, reference_add_noise(x0, t, noise, alpha_bar), "x_t")


@exercise_check
def check_ddim_step(fn: Callable) -> None:
    """Check `fn(x_t, eps_hat, ab_t, ab_prev)` returns the deterministic DDIM update to the earlier step."""
    g = torch.Generator().manual_seed(1)
    x_t, eps_hat = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    ab_t, ab_prev = torch.tensor(0.3), torch.tensor(0.6)
    got = expect_tensor(fn(x_t, eps_hat, ab_t, ab_prev))
    expect_shape(got, tuple(x_t.shape), "x_prev")
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps_hat) / ab_t.sqrt()
    if torch.allclose(got, x0_hat, atol=1e-5):
        raise Hint("that is the predicted clean image x0_hat: now move it to the noise level of the earlier step, "
                   "sqrt(ab_prev) * x0_hat + sqrt(1 - ab_prev) * eps_hat")
    if torch.allclose(got, ab_prev.sqrt() * x0_hat + (1 - ab_t).sqrt() * eps_hat, atol=1e-5):
        raise Hint("the noise is re-added with the earlier step's level: sqrt(1 - ab_prev), not sqrt(1 - ab_t)")
    if torch.allclose(got, ab_prev * x0_hat + (1 - ab_prev) * eps_hat, atol=1e-5):
        raise Hint("the weights need square roots: sqrt(ab_prev) and sqrt(1 - ab_prev)")
    wrong_x0 = x_t - (1 - ab_t).sqrt() * eps_hat
    if torch.allclose(got, ab_prev.sqrt() * wrong_x0 + (1 - ab_prev).sqrt() * eps_hat, atol=1e-5):
        raise Hint("x0_hat must be divided by sqrt(ab_t): x0_hat = (x_t - sqrt(1 - ab_t) * eps_hat) / sqrt(ab_t)")
    expect_close(got, reference_ddim_step(x_t, eps_hat, ab_t, ab_prev), "x_prev")


@exercise_check
def check_guidance(fn: Callable) -> str:
    """Check `fn(out_cond, out_uncond, w)` returns the classifier-free guidance combination."""
    g = torch.Generator().manual_seed(2)
    out_cond, out_uncond = torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g)
    got = expect_tensor(fn(out_cond, out_uncond, 3.0))
    expect_shape(got, tuple(out_cond.shape), "the guided output")
    if torch.allclose(got, out_cond + 3.0 * (out_uncond - out_cond), atol=1e-5):
        raise Hint("the roles are swapped: start from the unconditional output and step towards (and past) the "
                   "conditional one, out_uncond + w * (out_cond - out_uncond)")
    if torch.allclose(got, 3.0 * out_cond, atol=1e-5):
        raise Hint("scaling the conditional output is not guidance: extrapolate away from the unconditional one, "
                   "out_uncond + w * (out_cond - out_uncond)")
    if torch.allclose(got, out_cond + 3.0 * (out_cond - out_uncond), atol=1e-5):
        raise Hint("in this course w=1 means plain conditional sampling (no extra push): use "
                   "out_uncond + w * (out_cond - out_uncond), so w=1 gives out_cond")
    expect_close(got, reference_guidance(out_cond, out_uncond, 3.0), "the guided output")
    expect_close(expect_tensor(fn(out_cond, out_uncond, 1.0)), out_cond, "the output with w=1 (should be out_cond)")
    return "w=0 gives the unconditional model, w=1 the conditional one, w>1 exaggerates the condition."
