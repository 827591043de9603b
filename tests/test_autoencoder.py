import dataclasses

import pytest
import torch

from course.autoencoder import (LATENT_CONFIG, Autoencoder, AutoencoderConfig, add_noise, autoencoder_loss,
                                kl_divergence, latent_autoencoder, reconstruct, reconstruction_loss,
                                sample_prior, train_autoencoder)
from course.latent import VAE_CONFIG, lesson05_vae


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.mark.parametrize("kw, latent", [(dict(), (32,)), (dict(latent_dim=2, variational=True), (2,)),
                                        (dict(spatial=True, latent_channels=4), (4, 7, 7))])
def test_shapes(kw, latent):
    model = Autoencoder(AutoencoderConfig(width=8, **kw))
    x = torch.rand(3, 1, 28, 28)
    z = model.encode(x)
    assert tuple(z.shape) == (3, *latent) and model.latent_shape == latent
    y = model.decode(z)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == z.shape
    assert (logvar is None) == (not model.cfg.variational)


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(4, 6), torch.ones(4, 6))
    want = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), want, atol=1e-5)


def test_reconstruction_loss_matches_torch():
    logits, x = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    want = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 2
    assert torch.isclose(reconstruction_loss(logits, x).mean(), want, atol=1e-4)
    assert torch.isclose(reconstruction_loss(logits, x, "mse").mean(), ((torch.sigmoid(logits) - x) ** 2).sum() / 2)
    with pytest.raises(ValueError, match="bce"):
        reconstruction_loss(logits, x, "l1")


def test_reparameterise_statistics_and_gradient():
    model = Autoencoder(AutoencoderConfig(width=8, variational=True))
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), 2 * torch.log(torch.tensor(3.0)).item())
    z = model.reparameterise(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 2) < 0.1 and abs(z.std().item() - 3) < 0.1
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))


def test_single_batch_overfit():
    torch.manual_seed(0)
    x = torch.zeros(4, 1, 28, 28)
    for i in range(4):
        x[i, :, 4 + 3 * i : 14 + 3 * i, 6:20] = 1.0  # bars at four heights
    model = Autoencoder(AutoencoderConfig(width=4, latent_dim=4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss, _ = autoencoder_loss(model, x, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_train_autoencoder_smoke_and_latent_scale():
    cfg = AutoencoderConfig(width=4, spatial=True, variational=True, kl_weight=0.01, n_epochs=1, batch_size=16)
    model, history = train_autoencoder(cfg, torch.rand(64, 1, 28, 28), progress=False)
    assert set(history) == {"step", "loss", "reconstruction", "kl", "seconds"} and len(history["loss"]) == 1
    assert not model.training and model.latent_scale.item() > 0
    assert reconstruct(model, torch.rand(5, 1, 28, 28)).shape == (5, 1, 28, 28)


def test_sample_prior_decodes_seeded_gaussian_latents_scaled_by_temperature():
    model = Autoencoder(AutoencoderConfig(width=4, latent_dim=3, variational=True)).eval()
    x = sample_prior(model, 5, seed=1, batch_size=2)
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(x, model.decode(z), atol=1e-6)  # temperature 1: the prior N(0, I)
        assert torch.allclose(sample_prior(model, 5, seed=1, temperature=0.5), model.decode(0.5 * z), atol=1e-6)
        assert torch.allclose(sample_prior(model, 2, temperature=0.0), model.decode(torch.zeros(2, 3)), atol=1e-6)


def test_add_noise_is_clipped_and_seeded():
    x = torch.rand(2, 1, 28, 28)
    a = add_noise(x, 0.3, torch.Generator().manual_seed(1))
    assert a.min() >= 0 and a.max() <= 1 and torch.equal(a, add_noise(x, 0.3, torch.Generator().manual_seed(1)))


def test_bad_input_and_config():
    with pytest.raises(ValueError, match="divisible by 4"):
        Autoencoder(AutoencoderConfig(size=30))
    with pytest.raises(ValueError, match="channel"):
        Autoencoder(AutoencoderConfig(width=4)).encode(torch.rand(2, 3, 28, 28))


def test_latent_config_is_spatial_and_small():
    assert LATENT_CONFIG.spatial and LATENT_CONFIG.variational
    assert Autoencoder(LATENT_CONFIG).latent_shape == (4, 7, 7)
    assert dataclasses.asdict(LATENT_CONFIG)["latent_channels"] == 4


@pytest.mark.parametrize("make, base", [(latent_autoencoder, LATENT_CONFIG), (lesson05_vae, VAE_CONFIG)],
                         ids=["latent_autoencoder", "lesson05_vae"])
def test_cached_autoencoders_train_once_then_load(make, base, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    cfg = dataclasses.replace(base, width=4, n_epochs=1, batch_size=16)
    x = torch.rand(32, 1, 28, 28)
    first = make("cpu", x, cfg)
    second = make("cpu", x, cfg)
    assert "Loaded" in capsys.readouterr().out and not second.training
    assert torch.equal(first.latent_scale, second.latent_scale)
    with torch.no_grad():
        assert torch.allclose(first.encode(x[:2]), second.encode(x[:2]), atol=1e-6)
        z = torch.randn(2, *first.latent_shape)
        assert torch.allclose(first.decode(z), second.decode(z), atol=1e-6)
