import torch

from course.checks.lesson08 import (check_add_noise, check_ddim_step, check_guidance, reference_ddim_step)
from course.diffusion import NoiseSchedule, SamplerConfig, ScheduleConfig, ddim_sample
from exercise_checks import assert_hints, assert_not_done


def test_blank_exercises_say_not_done(capsys):
    for check in (check_add_noise, check_ddim_step, check_guidance):
        assert_not_done(check, capsys)


def test_add_noise_hints(capsys):
    def no_sqrt(x0, t, noise, ab):
        ab = ab[t].reshape(-1, 1, 1, 1)
        return ab * x0 + (1 - ab) * noise

    def swapped(x0, t, noise, ab):
        ab = ab[t].reshape(-1, 1, 1, 1)
        return (1 - ab).sqrt() * x0 + ab.sqrt() * noise

    def no_reshape(x0, t, noise, ab):
        return ab[t].sqrt() * x0 + (1 - ab[t]).sqrt() * noise

    assert_hints(check_add_noise, {"square roots": no_sqrt, "swapped": swapped, "reshape it to (B, 1, 1, 1)": no_reshape,
                                    "forget `return`": lambda *a: None}, capsys)


def test_ddim_step_hints(capsys):
    def x0_only(x_t, eps, ab_t, ab_prev):
        return (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()

    def wrong_level(x_t, eps, ab_t, ab_prev):
        return ab_prev.sqrt() * x0_only(x_t, eps, ab_t, ab_prev) + (1 - ab_t).sqrt() * eps

    def no_division(x_t, eps, ab_t, ab_prev):
        return ab_prev.sqrt() * (x_t - (1 - ab_t).sqrt() * eps) + (1 - ab_prev).sqrt() * eps

    assert_hints(check_ddim_step, {"predicted clean image": x0_only, "sqrt(1 - ab_prev), not": wrong_level,
                                    "divided by sqrt(ab_t)": no_division}, capsys)


def test_guidance_hints(capsys):
    assert_hints(check_guidance, {
        "swapped": lambda c, u, w: c + w * (u - c),
        "not guidance": lambda c, u, w: w * c,
        "w=1 means plain": lambda c, u, w: c + w * (c - u),
        "should be a torch.Tensor": lambda c, u, w: 1.0,
    }, capsys)


def test_reference_ddim_step_matches_the_sampler():
    # one DDIM step of the package's sampler, with a "network" that always predicts the same noise
    s = NoiseSchedule(ScheduleConfig(10))
    eps = torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(0))

    class ConstantNoise(torch.nn.Module):
        def forward(self, x, t, cond=None):
            return eps.expand_as(x)

    model = ConstantNoise()
    x_final = ddim_sample(model, s, (1, 1, 3, 3), SamplerConfig(n_steps=2), generator=torch.Generator().manual_seed(1))
    x = torch.randn((1, 1, 3, 3), generator=torch.Generator().manual_seed(1))
    x = reference_ddim_step(x, eps, s.alpha_bar[9], s.alpha_bar[0])
    x = reference_ddim_step(x, eps, s.alpha_bar[0], torch.tensor(1.0))
    assert torch.allclose(x, x_final, atol=1e-5)
