import pytest
import torch

from course.diffusion import (NoiseSchedule, ScheduleConfig, cosine_betas, ddim_sample, ddpm_sample, diffusion_loss,
                              drop_condition, linear_betas)
from course.unet import EMA, UNet, UNetConfig, timestep_embedding


def test_linear_schedule_known_values():
    b = linear_betas(1000)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    ab = NoiseSchedule(ScheduleConfig(1000, "linear")).alpha_bar
    assert ab[-1].item() == pytest.approx(4.04e-5, rel=0.02)  # almost pure noise at T


def test_cosine_schedule_known_values():
    s = NoiseSchedule(ScheduleConfig(1000, "cosine"))
    f = lambda t: torch.cos(torch.tensor((t / 1000 + 0.008) / 1.008 * torch.pi / 2, dtype=torch.float64)) ** 2
    assert s.alpha_bar[499].item() == pytest.approx((f(500) / f(0)).item(), rel=1e-4)  # eq. 17
    assert cosine_betas(1000).max().item() <= 0.999
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all()
    assert s.snr(torch.tensor([0])).item() > 1000 and s.snr(torch.tensor([999])).item() < 1e-4


def test_parameterisations_invert_each_other():
    s = NoiseSchedule(ScheduleConfig(100))
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 1, 5, 5, generator=g), torch.randn(4, 1, 5, 5, generator=g)
    t = torch.tensor([0, 10, 50, 99])
    x_t = s.add_noise(x0, t, noise)
    for pred in ("eps", "v", "x0"):
        x0_hat, eps_hat = s.to_x0_eps(x_t, s.target(x0, noise, t, pred), t, pred)
        assert torch.allclose(x0_hat, x0, atol=1e-3) and torch.allclose(eps_hat, noise, atol=1e-3), pred
    with pytest.raises(ValueError, match="unknown prediction"):
        s.target(x0, noise, t, "score")


def test_unet_shapes_for_pixels_latents_classes_and_vectors():
    x = torch.randn(3, 1, 28, 28)
    t = torch.tensor([0, 5, 999])
    assert UNet(UNetConfig(widths=(16, 32, 32))).forward(x, t).shape == x.shape
    z = torch.randn(3, 4, 7, 7)
    m = UNet(UNetConfig(in_channels=4, size=7, widths=(32, 64), n_classes=10))
    assert m(z, t, torch.tensor([1, 2, 10])).shape == z.shape
    v = UNet(UNetConfig(in_channels=3, size=32, widths=(16, 32), cond_dim=8))
    assert v(torch.randn(2, 3, 32, 32), t[:2], torch.randn(2, 8)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="1 channel"):
        UNet(UNetConfig(widths=(16, 16)))(torch.randn(2, 3, 28, 28), t[:2])
    with pytest.raises(ValueError, match="one step per image"):
        UNet(UNetConfig(widths=(16, 16)))(x, t[:2])
    assert timestep_embedding(t, 16).shape == (3, 16)


def test_unet_overfits_one_batch():
    torch.manual_seed(0)
    s = NoiseSchedule(ScheduleConfig(50))
    model = UNet(UNetConfig(widths=(16, 32), mid_attention=False))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x0 = torch.rand(8, 1, 12, 12) * 2 - 1
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        g.manual_seed(0)  # the same noise and steps every time: a fixed batch to memorise
        loss = diffusion_loss(model, s, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_samplers_shapes_determinism_and_guidance():
    s = NoiseSchedule(ScheduleConfig(20))
    model = UNet(UNetConfig(widths=(8, 16), n_classes=3, mid_attention=False))
    cond, null = torch.tensor([0, 1]), torch.tensor([3, 3])
    a = ddim_sample(model, s, (2, 1, 8, 8), 5, cond, null, 3.0, generator=torch.Generator().manual_seed(1))
    b = ddim_sample(model, s, (2, 1, 8, 8), 5, cond, null, 3.0, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b)
    c = ddpm_sample(model, s, (2, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    assert c.shape == (2, 1, 8, 8) and torch.isfinite(c).all()
    _, path = ddim_sample(model, s, (1, 1, 8, 8), 4, return_path=True)
    assert len(path) == 4
    with pytest.raises(ValueError, match="n_steps must be in 1..20"):
        ddim_sample(model, s, (1, 1, 8, 8), 50)


def test_drop_condition_and_ema():
    g = torch.Generator().manual_seed(0)
    cond = torch.zeros(1000, dtype=torch.long)
    dropped = drop_condition(cond, 10, 0.2, g)
    assert 0.15 < (dropped == 10).float().mean().item() < 0.25
    vec = drop_condition(torch.ones(6, 4), 0.0, 1.0, g)
    assert torch.equal(vec, torch.zeros(6, 4))
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)
    assert torch.allclose(ema.model.weight, model.weight - 1.0)
