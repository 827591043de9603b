import torch

from course.checks.lesson08 import (check_add_noise, check_ddim_step, check_guidance, check_paste_known, check_sample_loop,
                                    check_train_step, reference_ddim_loop, reference_ddim_step)
from course.diffusion import NoiseSchedule, SamplerConfig, ScheduleConfig, ddim_sample
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_blank_exercises_say_not_done(capsys):
    for check in (check_add_noise, check_ddim_step, check_guidance, check_paste_known):
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


def test_paste_known_hints(capsys):
    from course.editing import paste_known

    def unnoised(x, known, keep, ab, noise):
        return keep * known + (1 - keep) * x

    def swapped(x, known, keep, ab, noise):
        return keep * x + (1 - keep) * (ab.sqrt() * known + (1 - ab).sqrt() * noise)

    def no_sqrt(x, known, keep, ab, noise):
        return keep * (ab * known + (1 - ab) * noise) + (1 - keep) * x

    assert_passes(check_paste_known, paste_known, capsys)
    assert_hints(check_paste_known, {"noised to x's level": unnoised, "keep == 1 marks": swapped, "square roots": no_sqrt,
                                     "forget `return`": lambda *a: None}, capsys)


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


def _add_noise(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].reshape(-1, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def _train_step(target="noise", zero_grad=True, same_t=False, uniform=False, step=True, reduce="mean", clean=False):
    def train_step(model, opt, x0, alpha_bar, generator):
        if same_t:
            t = torch.randint(0, len(alpha_bar), (1,), generator=generator).expand(x0.shape[0])
        else:
            t = torch.randint(0, len(alpha_bar), (x0.shape[0],), generator=generator)
        noise = (torch.rand if uniform else torch.randn)(x0.shape, generator=generator)
        x_t = x0 if clean else _add_noise(x0, t, noise, alpha_bar)
        out = model(x_t, t)
        want = {"noise": noise, "x0": x0, "x_t": x_t}[target]
        loss = torch.nn.functional.mse_loss(out, want, reduction=reduce)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        if step:
            opt.step()
        return loss.item()
    return train_step


def test_train_step(capsys):
    assert_passes(check_train_step, _train_step(), capsys)
    assert_not_done(check_train_step, capsys)

    def noise_first(model, opt, x0, alpha_bar, generator):  # another order of drawing: also right
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, len(alpha_bar), (x0.shape[0],), generator=generator)
        loss = torch.nn.functional.mse_loss(model(_add_noise(x0, t, noise, alpha_bar), t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    assert_passes(check_train_step, noise_first, capsys)

    def t_out_of_range(model, opt, x0, alpha_bar, generator):
        t = torch.randint(1, len(alpha_bar) + 1, (x0.shape[0],), generator=generator)
        return _add_noise(x0, t, torch.randn(x0.shape), alpha_bar)

    def scalar_t(model, opt, x0, alpha_bar, generator):
        t = torch.randint(0, len(alpha_bar), (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        return model(_add_noise(x0, t, noise, alpha_bar), int(t[0]))

    assert_hints(check_train_step, {
        "target is the noise, not the clean image": _train_step(target="x0"),
        "not x_t": _train_step(target="x_t"),
        "opt.zero_grad()": _train_step(zero_grad=False),
        "same step": _train_step(same_t=True),
        "torch.rand (uniform": _train_step(uniform=True),
        "did not change": _train_step(step=False),
        "don't sum it": _train_step(reduce="sum"),
        "got the clean image": _train_step(clean=True),
        "out of range": t_out_of_range,
        "one step per image": scalar_t,
        "returned None": lambda *a: (_train_step()(*a), None)[1],
    }, capsys)


def _loop(end_at_one=True, by_index=False, restart=False, backwards=False):
    def loop(model, alpha_bar, x_T, steps):
        steps = steps[::-1] if backwards else steps
        x = x_T
        for i, step in enumerate(steps):
            eps_hat = model(x_T if restart else x, torch.full((x.shape[0],), step, dtype=torch.long))
            if by_index:
                ab_t, ab_prev = alpha_bar[i], alpha_bar[i + 1] if i + 1 < len(steps) else torch.tensor(1.0)
            else:
                ab_t = alpha_bar[step]
                ab_prev = alpha_bar[steps[i + 1]] if i + 1 < len(steps) else (torch.tensor(1.0) if end_at_one else alpha_bar[0])
            x = reference_ddim_step(x_T if restart else x, eps_hat, ab_t, ab_prev)
        return x
    return loop


def test_sample_loop(capsys):
    assert_passes(check_sample_loop, _loop(), capsys)
    assert_not_done(check_sample_loop, capsys)
    assert_hints(check_sample_loop, {
        "no noise is left": _loop(end_at_one=False),
        "not at the loop counter": _loop(by_index=True),
        "carry x": _loop(restart=True),
        "backwards in time": _loop(backwards=True),
        "one step per image": lambda m, ab, x, steps: m(x, steps[0]),
        "once per step": lambda m, ab, x, steps: x,
    }, capsys)


def test_reference_ddim_loop_matches_the_sampler():
    # the exercise's loop with eps-prediction is the package's ddim_sample (eta = 0, no guidance, no clipping)
    s = NoiseSchedule(ScheduleConfig(50))
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 1, 3, padding=1).requires_grad_(False)

    class Net(torch.nn.Module):
        def forward(self, x, t, cond=None):
            return conv(x) * (1 + t.float().reshape(-1, 1, 1, 1) / 50)

    net = Net()
    want = ddim_sample(net, s, (2, 1, 4, 4), SamplerConfig(n_steps=5), generator=torch.Generator().manual_seed(3))
    x_T = torch.randn((2, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    steps = torch.linspace(49, 0, 5).round().long().tolist()
    assert torch.allclose(reference_ddim_loop(net, s.alpha_bar, x_T, steps), want, atol=1e-5)
