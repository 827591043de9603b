"""Exercise checks of 08_diffusion: the forward noising, the training step, one DDIM step, the sampling loop,
classifier-free guidance, pasting the kept part while inpainting.

Taught in 08_diffusion. Each check runs the learner's function on small inputs and prints ✓, or ✗
with a hint about the usual mistake (see course.checks).
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, own_rng, same_values
from course.diffusion import NoiseSchedule, ScheduleConfig
from course.editing import paste_known


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


@exercise_check
def check_paste_known(fn: Callable) -> str:
    """Check `fn(x, known, keep, alpha_bar, noise)` returns x with the kept region replaced by `known` noised to alpha_bar."""
    g = torch.Generator().manual_seed(4)
    x, known, noise = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    keep = torch.zeros(2, 1, 4, 4)
    keep[..., :2, :] = 1  # keep the top half
    ab = torch.tensor(0.3)
    got = expect_tensor(fn(x, known, keep, ab, noise))
    expect_shape(got, tuple(x.shape), "the pasted x")
    noised = ab.sqrt() * known + (1 - ab).sqrt() * noise
    if torch.allclose(got, keep * known + (1 - keep) * x, atol=1e-5):
        raise Hint("the kept part must be noised to x's level first, or it sits as clean pixels in a noisy image and "
                   "the model sees a seam: keep * (sqrt(alpha_bar) * known + sqrt(1 - alpha_bar) * noise) + ...")
    if torch.allclose(got, keep * x + (1 - keep) * noised, atol=1e-5):
        raise Hint("keep == 1 marks what you keep from the original: take the noised `known` where keep is 1 and "
                   "x (the model's own work) where it is 0")
    if torch.allclose(got, keep * (ab * known + (1 - ab) * noise) + (1 - keep) * x, atol=1e-5):
        raise Hint("the weights need square roots, as in add_noise: sqrt(alpha_bar) * known + sqrt(1 - alpha_bar) * noise")
    expect_close(got, paste_known(x, known, keep, ab, noise), "the pasted x")
    expect(torch.equal(got[..., 2:, :], x[..., 2:, :]), "where keep is 0 the result must be x itself")
    return "outside the mask the model draws; inside, the original, always at the noise level of the current step."


class _TinyDenoiser(nn.Module):
    """A stand-in for the U-Net, called as model(x_t, t): one convolution plus a term in t."""

    def __init__(self, n_steps: int = 100):
        super().__init__()
        self.n_steps = n_steps
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.time = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.shape != (x.shape[0],):
            raise Hint(f"call the model with one step per image, t of shape ({x.shape[0]},): "
                       "torch.full((B,), step) in a loop, torch.randint(0, T, (B,)) in training")
        return self.conv(x) + self.time * (t.float() / self.n_steps).reshape(-1, 1, 1, 1)


class _Recorder(nn.Module):
    """Wraps a model and records every (x_t, t, output) it is called with."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        out = self.model(x, t)
        self.calls.append((x.detach().clone(), t.detach().clone(), out.detach().clone()))
        return out


def _replay(model: nn.Module, lr: float, batches: list, zero_grad: bool = True, reduce: str = "mean") -> dict:
    """Return the weights after plain-SGD steps on recorded (x_t, t, noise) batches: the reference training step."""
    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr)
    for x_t, t, noise in batches:
        loss = F.mse_loss(model(x_t, t), noise, reduction=reduce)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
    return model.state_dict()


def _same_weights(a: dict, b: dict, atol: float = 1e-4) -> bool:
    return all(torch.allclose(a[k], b[k], atol=atol) for k in a)


@exercise_check
@own_rng
def check_train_step(fn: Callable) -> None:
    """Check `fn(model, opt, x0, alpha_bar, generator)`: random t per image, Gaussian noise, x_t, the squared error
    between the model's output and the noise, one optimiser step; returns the loss (Ho et al. 2020, alg. 1)."""
    _, _, _, alpha_bar = _noising_inputs()
    n = len(alpha_bar)
    torch.manual_seed(0)
    inner = _TinyDenoiser(n)
    start = copy.deepcopy(inner)
    model = _Recorder(inner)
    opt = torch.optim.SGD(inner.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(3)
    x0s = [torch.rand(64, 1, 6, 6, generator=g) * 2 - 1 for _ in range(2)]
    returned = []
    for x0 in x0s:  # two steps: a missing zero_grad only shows on the second
        try:
            returned.append(fn(model, opt, x0, alpha_bar, torch.Generator().manual_seed(len(returned))))
        except IndexError:
            raise Hint(f"a step out of range: t must be in 0 .. T-1, torch.randint(0, T, (B,)) with T = len(alpha_bar) = {n}") from None
    expect(len(model.calls) == 2, f"the model was called {len(model.calls)} times in two steps: call it once per step, "
                                  "out = model(x_t, t)")
    batches = []
    for x0, (x_t, t, out), loss in zip(x0s, model.calls, returned):
        expect(t.dtype == torch.long, f"t has dtype {t.dtype}: steps are whole numbers, torch.randint(0, T, (B,))")
        expect(t.unique().numel() > 1, "every image got the same step: draw one random step per image, torch.randint(0, T, (B,))")
        expect(0 <= int(t.min()) and int(t.max()) < n, f"t must be in 0 .. {n - 1}")
        if torch.allclose(x_t, x0):
            raise Hint("the model got the clean image: give it the noisy x_t = add_noise(x0, t, noise, alpha_bar)")
        ab = alpha_bar[t].reshape(-1, 1, 1, 1)
        noise = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise this x_t was built with
        if noise.min() >= -1e-4:
            raise Hint("the noise must be Gaussian, eps ~ N(0, I): torch.randn, not torch.rand (uniform on [0, 1])")
        expect(abs(noise.mean().item()) < 0.15 and 0.85 < noise.std().item() < 1.15,
               "x_t is not sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with eps ~ N(0, I): build it with your "
               "add_noise from exercise 1 and torch.randn noise")
        expect(loss is not None, "your function returned None: return loss.item()")
        loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if abs(loss - F.mse_loss(out, x0).item()) < 1e-4 and abs(loss - F.mse_loss(out, noise).item()) > 1e-4:
            raise Hint("the target is the noise, not the clean image: loss = F.mse_loss(model(x_t, t), noise)")
        if abs(loss - F.mse_loss(out, x_t).item()) < 1e-4:
            raise Hint("the target is the noise that was added, not x_t: loss = F.mse_loss(model(x_t, t), noise)")
        if abs(loss - F.mse_loss(out, noise, reduction="sum").item()) < 1e-2:
            raise Hint("average the squared error (F.mse_loss), don't sum it: the step size would grow with the batch")
        expect(abs(loss - F.mse_loss(out, noise).item()) < 1e-3,
               f"returned {loss:.4f}, but the mean squared error between the model's output and the noise is "
               f"{F.mse_loss(out, noise).item():.4f}: return loss.item() of F.mse_loss(model(x_t, t), noise)")
        batches.append((x_t, t, noise))
    got = inner.state_dict()
    expect(not _same_weights(start.state_dict(), got, atol=0), "the weights did not change: loss.backward(), then opt.step()")
    if not _same_weights(_replay(start, 0.05, batches), got):
        if _same_weights(_replay(start, 0.05, batches, zero_grad=False), got):
            raise Hint("call opt.zero_grad() before loss.backward(): otherwise the gradients of the previous step are added")
        if _same_weights(_replay(start, 0.05, batches, reduce="sum"), got):
            raise Hint("average the squared error (F.mse_loss), don't sum it: the step size would grow with the batch")
        raise Hint("the weights ended up different from one step on F.mse_loss(model(x_t, t), noise): "
                   "opt.zero_grad(), loss.backward(), opt.step(), once per call")


def reference_ddim_loop(model: nn.Module, alpha_bar: torch.Tensor, x: torch.Tensor, steps: list[int],
                        final: torch.Tensor | None = None) -> torch.Tensor:
    """Return the sample after deterministic DDIM steps through `steps` (decreasing), for a model predicting the noise.

    After the last step the noise level is `final` (default alpha_bar = 1: no noise left)."""
    final = torch.tensor(1.0) if final is None else final
    for i, step in enumerate(steps):
        eps_hat = model(x, torch.full((x.shape[0],), step, dtype=torch.long))
        ab_prev = alpha_bar[steps[i + 1]] if i + 1 < len(steps) else final
        x = reference_ddim_step(x, eps_hat, alpha_bar[step], ab_prev)
    return x


@exercise_check
@own_rng
def check_sample_loop(fn: Callable) -> None:
    """Check `fn(model, alpha_bar, x_T, steps)` runs DDIM from x_T through the decreasing `steps` to a clean sample."""
    _, _, _, alpha_bar = _noising_inputs()
    torch.manual_seed(1)
    model = _TinyDenoiser(len(alpha_bar)).requires_grad_(False)
    x_T = torch.randn(3, 1, 5, 5, generator=torch.Generator().manual_seed(4))
    steps = [90, 70, 45, 20, 0]
    recorder = _Recorder(model)
    got = expect_tensor(fn(recorder, alpha_bar, x_T.clone(), steps), "the sample")
    expect_shape(got, tuple(x_T.shape), "the sample")
    called = [int(t[0]) for _, t, _ in recorder.calls]
    expect(len(called) == len(steps), f"the model was called {len(called)} times for {len(steps)} steps: once per step")
    if called == steps[::-1]:
        raise Hint("the steps run backwards in time: start at the noisiest step, steps[0], and end at 0")
    if called == list(range(len(steps))):
        raise Hint("pass the step itself to the model (90, 70, ...), not its position in the list (0, 1, ...)")
    expect(called == steps, f"the model was called at steps {called}, expected {steps}")
    if all(torch.equal(x, x_T) for x, _, _ in recorder.calls):
        raise Hint("every step starts again from x_T: carry x from one step to the next, x = ddim_step(x, ...)")
    want = reference_ddim_loop(model, alpha_bar, x_T, steps)
    if same_values(got, reference_ddim_loop(model, alpha_bar, x_T, steps, final=alpha_bar[0]), atol=1e-4):
        raise Hint("after the last step no noise is left: there ab_prev = 1 (torch.tensor(1.0)), so x becomes x0_hat")
    by_index = x_T
    for i, step in enumerate(steps):
        eps = model(by_index, torch.full((3,), step, dtype=torch.long))
        by_index = reference_ddim_step(by_index, eps, alpha_bar[i], alpha_bar[i + 1] if i + 1 < len(steps) else torch.tensor(1.0))
    if same_values(got, by_index, atol=1e-4):
        raise Hint("alpha_bar must be looked up at the step (alpha_bar[step]), not at the loop counter i")
    expect_close(got, want, "the sample", atol=1e-4)
