"""Each check of lesson 07 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch
import torch.nn.functional as F

from course.checks import lesson07
from course.gan import largest_singular_value
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_discriminator_loss(capsys):
    def solution(real_logits, fake_logits):
        bce = F.binary_cross_entropy_with_logits
        return bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))

    assert_passes(lesson07.check_discriminator_loss, solution, capsys)
    assert_not_done(lesson07.check_discriminator_loss, capsys)
    assert_hints(lesson07.check_discriminator_loss, {
        "swapped": lambda r, f: solution(f, r),
        "sign is flipped": lambda r, f: -solution(r, f),
        "only the real half": lambda r, f: F.softplus(-r).mean(),
        "averaged the two halves": lambda r, f: solution(r, f) / 2,
        "label 0": lambda r, f: F.softplus(-r).mean() + F.softplus(-f).mean(),
        "one number": lambda r, f: F.softplus(-r) + F.softplus(f),
    }, capsys)


def test_generator_loss(capsys):
    def solution(fake_logits):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    assert_passes(lesson07.check_generator_loss, solution, capsys)
    assert_not_done(lesson07.check_generator_loss, capsys)
    assert_hints(lesson07.check_generator_loss, {
        "saturating": lambda f: -F.softplus(f).mean(),
        "being called fake": lambda f: F.softplus(f).mean(),
        "hinge": lambda f: -f.mean(),
        "sign is flipped": lambda f: -solution(f),
    }, capsys)


def test_largest_singular_value(capsys):
    def solution(w, n_iter=20):
        m = w.reshape(w.shape[0], -1)
        u = torch.randn(m.shape[0])
        for _ in range(n_iter):
            v = F.normalize(m.T @ u, dim=0)
            u = F.normalize(m @ v, dim=0)
        return u @ m @ v

    assert_passes(lesson07.check_largest_singular_value, solution, capsys)
    assert_passes(lesson07.check_largest_singular_value, largest_singular_value, capsys)
    assert_not_done(lesson07.check_largest_singular_value, capsys)
    assert_hints(lesson07.check_largest_singular_value, {
        "sigma squared": lambda w, n: solution(w, n) ** 2,
        "Frobenius": lambda w, n: torch.linalg.norm(w),
        "smallest": lambda w, n: torch.linalg.svdvals(w.reshape(w.shape[0], -1))[-1],
        "reshape w": lambda w, n: torch.linalg.svdvals(w.reshape(-1, w.shape[-1]))[0],
    }, capsys)


def _solution_step(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise)
    real_logits, fake_logits = discriminator(x_real), discriminator(fake.detach())
    loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.softplus(-discriminator(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def _no_detach(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise)
    loss_d = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(fake)).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.softplus(-discriminator(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def _detached_g(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise).detach()
    loss_d = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(fake)).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.softplus(-discriminator(fake)).mean().requires_grad_()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def _no_zero_grad_d(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise)
    loss_d = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(fake.detach())).mean()
    loss_d.backward()
    opt_d.step()
    loss_g = F.softplus(-discriminator(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def _generator_first(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise)
    loss_g = F.softplus(-discriminator(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    loss_d = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(fake.detach())).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d.item(), loss_g.item()


def _minimax(generator, discriminator, opt_g, opt_d, x_real, noise):
    fake = generator(noise)
    loss_d = F.softplus(-discriminator(x_real)).mean() + F.softplus(discriminator(fake.detach())).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = -F.softplus(discriminator(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def test_train_step(capsys):
    assert_passes(lesson07.check_train_step, _solution_step, capsys)
    assert_not_done(lesson07.check_train_step, capsys)
    assert_hints(lesson07.check_train_step, {
        "fake.detach()": _no_detach,
        "generator's weights did not change": _detached_g,
        "opt_d.zero_grad() right before": _no_zero_grad_d,
        "update D first": _generator_first,
        "non-saturating": _minimax,
        "return (d_loss, g_loss)": lambda *args: (_solution_step(*args), None)[1],
    }, capsys)


def test_superres_loss(capsys):
    def solution(sr, hr, fake_logits, adv_weight):
        return F.mse_loss(sr, hr) + adv_weight * F.softplus(-fake_logits).mean()

    assert_passes(lesson07.check_superres_loss, solution, capsys)
    assert_not_done(lesson07.check_superres_loss, capsys)
    assert_hints(lesson07.check_superres_loss, {
        "only the squared error": lambda sr, hr, f, w: F.mse_loss(sr, hr),
        "not weighted": lambda sr, hr, f, w: F.mse_loss(sr, hr) + F.softplus(-f).mean(),
        "call its output real": lambda sr, hr, f, w: F.mse_loss(sr, hr) + w * F.softplus(f).mean(),
        "absolute error": lambda sr, hr, f, w: F.l1_loss(sr, hr) + w * F.softplus(-f).mean(),
        "don't sum": lambda sr, hr, f, w: ((sr - hr) ** 2).sum() + w * F.softplus(-f).mean(),
    }, capsys)
