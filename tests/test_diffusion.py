from dataclasses import replace

import pytest
import torch

from course.diffusion import (NoiseSchedule, SamplerConfig, ScheduleConfig, cosine_betas, ddim_sample, ddpm_sample, diffusion_loss,
                              drop_condition, guided_output, linear_betas)
from course.ema import EMA
from course.unet import UNet, UNetConfig, timestep_embedding


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
    a = ddim_sample(model, s, (2, 1, 8, 8), SamplerConfig(5, 3.0), cond, null, generator=torch.Generator().manual_seed(1))
    b = ddim_sample(model, s, (2, 1, 8, 8), SamplerConfig(5, 3.0), cond, null, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b)
    c = ddpm_sample(model, s, (2, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    assert c.shape == (2, 1, 8, 8) and torch.isfinite(c).all()
    _, path = ddim_sample(model, s, (1, 1, 8, 8), SamplerConfig(4), return_path=True)
    assert len(path) == 4
    with pytest.raises(ValueError, match="n_steps must be in 1..20"):
        ddim_sample(model, s, (1, 1, 8, 8), SamplerConfig(50))


def test_guidance_extrapolates_from_unconditional_towards_conditional():
    torch.manual_seed(0)
    model = UNet(UNetConfig(widths=(8, 16), n_classes=3, mid_attention=False)).eval()
    for p in model.parameters():  # random, not zero-initialised, outputs: the classes must differ
        p.data.normal_(0, 0.3)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 5])
    cond, null = torch.tensor([0, 1]), torch.tensor([3, 3])
    with torch.no_grad():
        out_c, out_u = model(x, t, cond), model(x, t, null)
        assert not torch.allclose(out_c, out_u, atol=1e-4)
        assert torch.allclose(guided_output(model, x, t, cond, null, 1.0), out_c, atol=1e-5)
        assert torch.allclose(guided_output(model, x, t, cond, null, 0.0), out_u, atol=1e-5)
        assert torch.allclose(guided_output(model, x, t, cond, null, 3.0), out_u + 3.0 * (out_c - out_u), atol=1e-4)
    s = NoiseSchedule(ScheduleConfig(20))
    g = lambda: torch.Generator().manual_seed(1)
    w1 = ddim_sample(model, s, (2, 1, 8, 8), SamplerConfig(5, 1.0), cond, null, generator=g())
    w3 = ddim_sample(model, s, (2, 1, 8, 8), SamplerConfig(5, 3.0), cond, null, generator=g())
    assert not torch.allclose(w1, w3, atol=1e-3)  # guidance changes the samples


def test_guidance_interval_guides_only_the_steps_inside_it():
    torch.manual_seed(0)
    model = UNet(UNetConfig(widths=(8, 16), n_classes=3, mid_attention=False)).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.3)
    s, cond, null = NoiseSchedule(ScheduleConfig(20)), torch.tensor([0, 1]), torch.tensor([3, 3])
    draw = lambda sampler: ddim_sample(model, s, (2, 1, 8, 8), sampler, cond, null, generator=torch.Generator().manual_seed(1))
    w1, w3 = draw(SamplerConfig(5, 1.0)), draw(SamplerConfig(5, 3.0))
    assert torch.equal(draw(SamplerConfig(5, 3.0, guidance_interval=(0.0, 1.0))), w3)
    assert torch.equal(draw(SamplerConfig(5, 3.0, guidance_interval=(0.01, 0.02))), w1)  # no visited step t/19 inside
    upper = draw(SamplerConfig(5, 3.0, guidance_interval=(0.6, 1.0)))  # only the two noisiest of steps 19, 14, 10, 5, 0
    lower = draw(SamplerConfig(5, 3.0, guidance_interval=(0.0, 0.6)))
    assert not torch.allclose(upper, w1, atol=1e-4) and not torch.allclose(upper, w3, atol=1e-4)
    assert not torch.allclose(lower, upper, atol=1e-4)
    with pytest.raises(ValueError, match="guidance_interval"):
        SamplerConfig(guidance_interval=(0.8, 0.2))


def test_train_diffusion_keeps_snapshots_of_its_ema_weights(tmp_path, monkeypatch):
    from course.cache import load_if_trained, save_trained
    from course.diffusion import DiffusionConfig, train_diffusion

    cfg = DiffusionConfig(unet=UNetConfig(in_channels=2, size=4, widths=(8, 8), n_classes=3, time_dim=16, mid_attention=False),
                          schedule=ScheduleConfig(50), train_steps=6, batch_size=4, warmup=2, snapshot_steps=(3, 6))
    x, y = torch.randn(20, 2, 4, 4), torch.randint(0, 3, (20,))
    model, history = train_diffusion(cfg, x, y, progress=False)
    assert sorted(history["snapshots"]) == [3, 6]
    final = model.state_dict()
    assert all(torch.equal(history["snapshots"][6][k], v) for k, v in final.items())  # the last snapshot is the model
    assert any(not torch.equal(history["snapshots"][3][k], v) for k, v in final.items())
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    save_trained(model, cfg, "snapshots", history)
    cached = load_if_trained(UNet(cfg.unet), cfg, "snapshots")  # loaded with weights_only=True, as lessons load it
    half_way = UNet(cfg.unet)
    half_way.load_state_dict(cached["snapshots"][3])
    assert all(torch.equal(half_way.state_dict()[k], v) for k, v in history["snapshots"][3].items())
    with pytest.raises(ValueError, match="snapshot_steps must lie in 1..train_steps=6"):
        train_diffusion(replace(cfg, snapshot_steps=(7,)), x, y, progress=False)


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


def test_min_snr_weights_known_values():
    from course.diffusion import loss_weight

    s = NoiseSchedule(ScheduleConfig(1000))
    t = torch.tensor([0, 500, 999])
    snr = s.snr(t)
    assert torch.equal(loss_weight(s, t, "v", "none"), torch.ones(3))
    w_x0 = loss_weight(s, t, "x0", "min_snr", snr_gamma=5.0)
    assert torch.allclose(w_x0, snr.clamp(max=5.0))  # Hang et al. 2023: min(SNR, gamma) in x0 terms
    assert torch.allclose(loss_weight(s, t, "eps", "min_snr"), snr.clamp(max=5.0) / snr)
    assert torch.allclose(loss_weight(s, t, "v", "min_snr"), snr.clamp(max=5.0) / (snr + 1))
    # the three weighted losses are the same quantity: weighted eps-error == weighted x0-error
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    x_t = s.add_noise(x0, t, noise)
    wrong_x0 = x0 + 0.1 * torch.randn(3, 1, 4, 4, generator=g)
    errors = {}
    for pred in ("eps", "v", "x0"):
        out = s.target(wrong_x0, s.to_x0_eps(x_t, wrong_x0, t, "x0")[1], t, pred)  # a network that predicts wrong_x0
        per = (out - s.target(x0, noise, t, pred)).pow(2).flatten(1).mean(1)
        errors[pred] = loss_weight(s, t, pred, "min_snr") * per
    assert torch.allclose(errors["eps"], errors["x0"], rtol=1e-3) and torch.allclose(errors["v"], errors["x0"], rtol=1e-3)
    with pytest.raises(ValueError, match="unknown weighting"):
        loss_weight(s, t, "v", "p2")


def test_train_diffusion_is_deterministic_and_conditions():
    from course.diffusion import DiffusionConfig, null_condition, train_diffusion

    cfg = DiffusionConfig(unet=UNetConfig(in_channels=2, size=4, widths=(8, 8), n_classes=3, time_dim=16, mid_attention=False),
                          schedule=ScheduleConfig(50), train_steps=6, batch_size=4, warmup=2)
    x, y = torch.randn(20, 2, 4, 4), torch.randint(0, 3, (20,))
    m1, h1 = train_diffusion(cfg, x, y, progress=False)
    m2, h2 = train_diffusion(cfg, x, y, progress=False)
    assert h1["loss"] == h2["loss"] and len(h1["loss"]) == 1 and h1["step"] == [6]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert not m1.training and m1(x[:2], torch.tensor([1, 2]), y[:2]).shape == (2, 2, 4, 4)
    assert torch.equal(null_condition(cfg.unet, y[:2]), torch.tensor([3, 3]))
    vec_cfg = UNetConfig(cond_dim=5)
    assert torch.equal(null_condition(vec_cfg, torch.ones(2, 5)), torch.zeros(2, 5))


def test_latent_round_trip_and_sample_digits():
    from course.data.image_dataset import from_signed, to_signed
    from course.latent import decode_latents, encode_latents, sample_digits

    class TinyAutoencoder(torch.nn.Module):  # a stand-in with the autoencoder's interface: 1x8x8 <-> 2x2x2
        def __init__(self):
            super().__init__()
            self.register_buffer("latent_scale", torch.tensor(2.0))
            self.w = torch.nn.Parameter(torch.ones(1))

        def encode(self, x):
            return torch.nn.functional.pixel_unshuffle(x, 4)[:, :2]  # (B, 2, 2, 2)

        def decode(self, z):
            return torch.nn.functional.pixel_shuffle(torch.cat([z] * 8, 1), 4)  # (B, 1, 8, 8)

    ae = TinyAutoencoder()
    x = torch.rand(5, 1, 8, 8)
    z = encode_latents(ae, x, batch_size=2)
    assert z.shape == (5, 2, 2, 2) and torch.allclose(z, ae.encode(x) * 2.0)
    assert decode_latents(ae, z).shape == (5, 1, 8, 8)
    assert torch.allclose(from_signed(to_signed(x)), x)
    model = UNet(UNetConfig(in_channels=2, size=2, widths=(8,), n_classes=3, mid_attention=False))
    s = NoiseSchedule(ScheduleConfig(20))
    labels = torch.tensor([0, 1, 2, 0, 1])
    decode = lambda z: decode_latents(ae, z)
    a = sample_digits(model, s, labels, (2, 2, 2), decode, SamplerConfig(3, 2.0, "v"), seed=1, batch_size=2)
    b = sample_digits(model, s, labels, (2, 2, 2), decode, SamplerConfig(3, 2.0, "v"), seed=1, batch_size=2)
    assert a.shape == (5, 1, 8, 8) and torch.equal(a, b)
