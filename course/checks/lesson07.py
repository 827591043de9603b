"""Exercise checks of 07_gan: the two losses, spectral norm's power iteration, the training step, the SRGAN loss."""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_tensor, same_values
from course.device import cpu_threads
from course.gan import GANConfig, build_gan, d_loss, g_loss
from course.superres import superres_loss


def _logits(seed: int, n: int = 6) -> torch.Tensor:
    return 2 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


@exercise_check
def check_discriminator_loss(fn: Callable) -> None:
    """Check `fn(real_logits, fake_logits)` returns -mean log D(x) - mean log(1 - D(G(z))) from logits (07_gan)."""
    real, fake = _logits(1), _logits(2)
    got = expect_tensor(fn(real, fake))
    expect(got.numel() == 1, f"got shape {tuple(got.shape)}: average over the batch and return one number")
    want = d_loss(real, fake, "bce")
    swapped = d_loss(fake, real, "bce")
    if same_values(got, swapped):
        raise Hint("real and fake are swapped: D should say 1 (logit up) for real samples and 0 for generated ones")
    if same_values(got, -want):
        raise Hint("the sign is flipped: a loss to minimise is -log D(x) - log(1 - D(G(z))), always positive")
    if same_values(got, F.softplus(-real).mean()):
        raise Hint("only the real half: add the loss on the generated samples, -log(1 - sigmoid(fake_logits))")
    if same_values(got, want / 2):
        raise Hint("you averaged the two halves; the discriminator's loss is their sum")
    if same_values(got, F.softplus(-real).mean() + F.softplus(-fake).mean()):
        raise Hint("the fake half wants label 0: -log(1 - sigmoid(fake)) = softplus(fake), not softplus(-fake)")
    if same_values(got, F.binary_cross_entropy(real, torch.ones_like(real)) if real.min() >= 0 else torch.tensor(float("nan"))):
        raise Hint("these are logits, not probabilities: use F.binary_cross_entropy_with_logits")
    expect_close(got.reshape(()), want, "the discriminator's loss", atol=1e-5)


@exercise_check
def check_generator_loss(fn: Callable) -> None:
    """Check `fn(fake_logits)` returns the non-saturating generator loss -mean log D(G(z)) (07_gan)."""
    fake = _logits(3)
    got = expect_tensor(fn(fake))
    expect(got.numel() == 1, f"got shape {tuple(got.shape)}: average over the batch and return one number")
    if same_values(got, g_loss(fake, "minimax")):
        raise Hint("that is the saturating minimax loss log(1 - D(G(z))); use -log D(G(z)) = softplus(-fake_logits), "
                   "whose gradient stays large while D still wins")
    if same_values(got, F.softplus(fake).mean()):
        raise Hint("this rewards the generator for being called fake: it wants label 1, -log sigmoid(fake_logits)")
    if same_values(got, -fake.mean()):
        raise Hint("that is the hinge generator loss; here use the non-saturating one, -log sigmoid(fake_logits)")
    if same_values(got, -F.softplus(-fake).mean()):
        raise Hint("the sign is flipped: minimise -log D(G(z)), a positive number")
    expect_close(got.reshape(()), g_loss(fake, "bce"), "the generator's loss", atol=1e-5)


@exercise_check
def check_largest_singular_value(fn: Callable) -> None:
    """Check `fn(w, n_iter)` estimates the largest singular value of w reshaped to (out, -1) (07_gan)."""
    g = torch.Generator().manual_seed(4)
    w = torch.randn(8, 5, generator=g)
    want = torch.linalg.svdvals(w)[0]
    got = expect_tensor(fn(w, 50))
    expect(got.numel() == 1, f"got shape {tuple(got.shape)}: return one number, sigma = u @ W @ v")
    got = got.reshape(())
    if same_values(got, want**2, atol=1e-3):
        raise Hint("that is sigma squared: return u @ W @ v (or the norm of W v), not |W^T W v|")
    if same_values(got, torch.linalg.norm(w), atol=1e-3):
        raise Hint("that is the Frobenius norm of all entries; the power iteration gives the largest singular value")
    if same_values(got, torch.linalg.svdvals(w)[-1], atol=1e-3):
        raise Hint("that is the smallest singular value")
    expect_close(got, want, "sigma of an 8x5 matrix", atol=1e-3)
    kernel = torch.randn(6, 3, 3, 3, generator=g)  # a conv kernel: reshape to (6, 27) first
    want_k = torch.linalg.svdvals(kernel.reshape(6, -1))[0]
    got_k = expect_tensor(fn(kernel, 50)).reshape(())
    if not same_values(got_k, want_k, atol=1e-3):
        raise Hint(f"for a conv kernel (6, 3, 3, 3) got {got_k.item():.4f}, expected {want_k.item():.4f}: "
                   "reshape w to (out_channels, -1) first")


def _tiny_gan():
    cfg = GANConfig(space="latent", width=2, n_noise=4, beta1=0.5)
    torch.manual_seed(0)
    generator, discriminator = build_gan(cfg)
    x = torch.randn(8, 4, 7, 7, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(8, 4, generator=torch.Generator().manual_seed(6))
    return cfg, generator, discriminator, x, noise


def _variant(d_first: bool = True, zero_d: bool = True, g_kind: str = "bce") -> Callable:
    """Return a training step with one known mistake switched on (or none), to recognise it in a learner's result."""
    def step(generator, discriminator, opt_g, opt_d, x_real, noise):
        fake = generator(noise)

        def update_d():
            loss = d_loss(discriminator(x_real), discriminator(fake.detach()), "bce")
            if zero_d:
                opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            return loss.item()

        def update_g():
            loss = g_loss(discriminator(fake), g_kind)
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            return loss.item()

        if d_first:
            return update_d(), update_g()
        loss_g = update_g()
        return update_d(), loss_g
    return step


def _run(step_fn):
    cfg, generator, discriminator, x, noise = _tiny_gan()
    # plain SGD: Adam's first steps are about lr * sign(gradient), which turns rounding noise in a
    # near-zero gradient into a full step and would tell two correct answers apart
    opt_g = torch.optim.SGD(generator.parameters(), 0.1)
    opt_d = torch.optim.SGD(discriminator.parameters(), 0.1)
    g0, d0 = copy.deepcopy(generator.state_dict()), copy.deepcopy(discriminator.state_dict())
    with cpu_threads(1):  # networks this tiny run fastest on one thread (no waiting for a busy second core)
        for _ in range(2):  # two steps: a missing zero_grad only shows on the second
            result = step_fn(generator, discriminator, opt_g, opt_d, x, noise)
    return result, (g0, d0), (generator.state_dict(), discriminator.state_dict())


def _changed(before: dict, after: dict) -> bool:
    """Return whether any weight changed (batch norm's running statistics move in any forward pass: ignored)."""
    return any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point() and "running" not in k)


def _same_weights(a: dict, b: dict) -> bool:
    return all(torch.allclose(a[k], b[k], atol=1e-5) for k in a if a[k].is_floating_point())


@exercise_check
def check_train_step(fn: Callable) -> None:
    """Check `fn(generator, discriminator, opt_g, opt_d, x_real, noise)` does one D update then one G update (07_gan)."""
    try:
        result, (g0, d0), (g1, d1) = _run(fn)
    except RuntimeError as err:
        if "second time" in str(err) or "backward through the graph" in str(err):
            raise Hint("backward went through the generator twice: in the discriminator's loss use fake.detach(), so "
                       "that loss stops at D and the generator's graph is still there for its own update") from None
        raise
    expect(result is not None, "your function returned None: return (d_loss, g_loss) as floats (loss.item())")
    ref, _, (g_ref, d_ref) = _run(_variant())
    expect(_changed(d0, d1), "the discriminator's weights did not change: call loss_d.backward() and opt_d.step()")
    expect(_changed(g0, g1), "the generator's weights did not change: its loss must come from discriminator(fake) "
                             "without detach (a detached fake has no path back to G), then opt_g.step()")
    if not (_same_weights(d_ref, d1) and _same_weights(g_ref, g1)):
        mistakes = {
            "update D first, then G: the generator's loss must use the discriminator *after* its update": _variant(d_first=False),
            "call opt_d.zero_grad() right before loss_d.backward(): the generator's backward left gradients on D's "
            "weights, and they were added to D's own": _variant(zero_d=False),
            "that is the saturating minimax loss for G; use the non-saturating one, softplus(-D(fake)).mean()": _variant(g_kind="minimax"),
            "that is the hinge loss for G; here use the non-saturating BCE one, softplus(-D(fake)).mean()": _variant(g_kind="hinge"),
        }
        for hint, variant in mistakes.items():
            _, _, (g_bad, d_bad) = _run(variant)
            if _same_weights(g_bad, g1) and _same_weights(d_bad, d1):
                raise Hint(hint)
        raise Hint("the networks ended with different weights than expected: fake = generator(noise); D's loss "
                   "softplus(-D(real)) + softplus(D(fake.detach())), zero_grad, backward, step; then G's loss "
                   "softplus(-D(fake)) with the updated D, zero_grad, backward, step")
    d_val, g_val = (float(v) for v in result)
    expect(abs(d_val - ref[0]) < 1e-4 and abs(g_val - ref[1]) < 1e-4,
           f"returned ({d_val:.4f}, {g_val:.4f}), expected ({ref[0]:.4f}, {ref[1]:.4f}): return (loss_d.item(), loss_g.item())")


@exercise_check
def check_superres_loss(fn: Callable) -> None:
    """Check `fn(sr, hr, fake_logits, adv_weight)` returns MSE + adv_weight * non-saturating GAN loss (07_gan)."""
    g = torch.Generator().manual_seed(7)
    hr = torch.rand(4, 1, 8, 8, generator=g)
    sr = (hr + 0.1 * torch.randn(4, 1, 8, 8, generator=g)).clamp(0, 1)
    fake = _logits(8, 4)
    got = expect_tensor(fn(sr, hr, fake, 0.1))
    expect(got.numel() == 1, f"got shape {tuple(got.shape)}: return one number")
    got = got.reshape(())
    mse, adv = F.mse_loss(sr, hr), F.softplus(-fake).mean()
    if same_values(got, mse):
        raise Hint("only the squared error: add adv_weight times the generator's loss -log sigmoid(fake_logits)")
    if same_values(got, mse + adv):
        raise Hint("the adversarial term is not weighted: multiply it by adv_weight")
    if same_values(got, mse + 0.1 * F.softplus(fake).mean()):
        raise Hint("the network wants D to call its output real: -log sigmoid(fake) = softplus(-fake_logits)")
    if same_values(got, F.l1_loss(sr, hr) + 0.1 * adv):
        raise Hint("that is the absolute error; use the mean *squared* error, F.mse_loss(sr, hr)")
    if same_values(got, ((sr - hr) ** 2).sum() + 0.1 * adv):
        raise Hint("average the squared error over all pixels (F.mse_loss), don't sum it")
    expect_close(got, superres_loss(sr, hr, fake, 0.1), "the loss", atol=1e-5)
    zero = expect_tensor(fn(sr, hr, fake, 0.0)).reshape(())
    expect(same_values(zero, mse), "with adv_weight = 0 the loss should be the plain squared error")
