"""The GAN and super-resolution pieces of lesson 07: shapes, losses against PyTorch's, spectral norm, one step."""
import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from course.gan import (GANConfig, Discriminator, Generator, build_gan, d_loss, g_loss, gan_step, generate,
                        largest_singular_value, train_gan, trained_gan, trained_gan_snapshots)
from course.superres import (SRConfig, SRNet, bicubic_upsample, downsample, high_frequency_energy, superres_loss,
                             train_superres)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks run fastest on one thread (conftest.py)


@pytest.mark.parametrize("space, shape", [("pixels", (3, 1, 28, 28)), ("latent", (3, 4, 7, 7))])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_shapes(space, shape, n_classes):
    cfg = GANConfig(space=space, width=8, n_classes=n_classes, spectral_norm=True)
    generator, discriminator = build_gan(cfg)
    y = torch.tensor([0, 3, 9]) if n_classes else None
    x = generator(torch.randn(3, cfg.n_noise), y)
    assert x.shape == shape
    assert discriminator(x, y).shape == (3,)
    if space == "pixels":
        assert x.min() >= -1 and x.max() <= 1  # tanh


def test_same_seed_same_weights():
    a, b = build_gan(GANConfig(width=4)), build_gan(GANConfig(width=4))
    assert all(torch.equal(p, q) for p, q in zip(a[0].parameters(), b[0].parameters()))


def test_losses_against_pytorch():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.0, 1.0])
    ones, zeros = torch.ones(3), torch.zeros(3)
    bce = F.binary_cross_entropy_with_logits
    assert torch.allclose(d_loss(real, fake, "bce"), bce(real, ones) + bce(fake, zeros))
    assert torch.allclose(g_loss(fake, "bce"), bce(fake, ones))
    assert torch.allclose(g_loss(fake, "minimax"), -bce(fake, zeros))  # mean log(1 - D(G(z)))


def test_losses_by_hand():
    # hinge: relu(1 - 2) + relu(1 + 0.5) over one sample = 0 + 1.5; generator: -logit
    assert d_loss(torch.tensor([2.0]), torch.tensor([0.5]), "hinge").item() == pytest.approx(1.5)
    assert g_loss(torch.tensor([0.5, 1.5]), "hinge").item() == pytest.approx(-1.0)
    # D(x) = sigmoid(0) = 0.5 on both: -log 0.5 - log 0.5 = 2 log 2
    assert d_loss(torch.zeros(1), torch.zeros(1)).item() == pytest.approx(2 * 0.693147, abs=1e-5)


def test_bad_loss_and_inputs():
    with pytest.raises(ValueError, match="loss must be one of"):
        d_loss(torch.zeros(1), torch.zeros(1), "wasserstein")
    with pytest.raises(ValueError, match="space must be"):
        Generator(GANConfig(space="voxels"))
    generator, discriminator = build_gan(GANConfig(width=4, n_classes=10))
    with pytest.raises(ValueError, match="noise must be"):
        generator(torch.randn(2, 5))
    with pytest.raises(ValueError, match="pass labels"):
        generator(torch.randn(2, 32))
    with pytest.raises(ValueError, match="1 channel|channels"):
        discriminator(torch.rand(2, 3, 28, 28), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="latents must be"):
        Discriminator(GANConfig(space="latent", width=4))(torch.rand(2, 4, 8, 8))


def test_power_iteration_matches_svd_and_spectral_norm():
    w = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    sigma = torch.linalg.svdvals(w.reshape(16, -1))[0]
    assert torch.allclose(largest_singular_value(w, 100), sigma, rtol=1e-4)
    _, discriminator = build_gan(GANConfig(width=4, spectral_norm=True))
    discriminator.train()
    x = torch.rand(4, 1, 28, 28)
    for _ in range(30):  # PyTorch's spectral_norm does one power step per forward in train mode
        discriminator(x)
    layer = discriminator.features[0]
    assert torch.allclose(torch.linalg.svdvals(layer.weight.reshape(layer.weight.shape[0], -1))[0], torch.tensor(1.0), atol=1e-3)


def test_gan_step_updates_each_network_and_detaches():
    cfg = GANConfig(space="latent", width=2, n_noise=4)
    generator, discriminator = build_gan(cfg)
    opt_g, opt_d = torch.optim.SGD(generator.parameters(), 0.1), torch.optim.SGD(discriminator.parameters(), 0.1)
    g0, d0 = copy.deepcopy(generator.state_dict()), copy.deepcopy(discriminator.state_dict())
    noise = torch.randn(6, 4)
    out = gan_step(generator, discriminator, opt_g, opt_d, torch.randn(6, 4, 7, 7), None, cfg, noise=noise)
    assert set(out) == {"d_loss", "g_loss", "D(real)", "D(fake)"}
    assert any(not torch.equal(d0[k], v) for k, v in discriminator.state_dict().items())
    assert any(not torch.equal(g0[k], v) for k, v in generator.state_dict().items())
    # D's update alone must not move G: with lr_g = 0 the generator stays put
    generator2, discriminator2 = build_gan(cfg)
    opt_g0 = torch.optim.SGD(generator2.parameters(), 0.0)
    gan_step(generator2, discriminator2, opt_g0, torch.optim.SGD(discriminator2.parameters(), 0.1),
             torch.randn(6, 4, 7, 7), None, cfg, noise=noise)
    assert all(torch.equal(g0[k], v) for k, v in generator2.state_dict().items() if "running" not in k and "num_batches" not in k)


def test_train_gan_and_generate_tiny():
    cfg = GANConfig(space="pixels", width=2, n_noise=4, n_classes=10, n_steps=3, batch_size=4, ema_decay=0.9)
    x, y = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10
    seen = []
    generator, history = train_gan(cfg, x, y, log_every=1, progress=False, on_samples=lambda i, g: seen.append(i),
                                   every_seconds=0.0)
    assert len(history["d_loss"]) == 3 and seen[-1] == 3
    images = generate(generator, torch.arange(5) % 10, seed=1)
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert torch.equal(images, generate(generator, torch.arange(5) % 10, seed=1))
    with pytest.raises(ValueError, match="class-conditional"):
        generate(generator, None, n=4)
    with pytest.raises(ValueError, match="needs the labels"):
        train_gan(cfg, x, None, progress=False)


def test_trained_gan_caches_by_name_config_and_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    cfg = GANConfig(space="pixels", width=2, n_noise=4, n_steps=2, batch_size=4)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    first, history = trained_gan("tiny", cfg, x, data="eight")
    again, history_again = trained_gan("tiny", cfg, x, data="eight")
    assert "Loaded tiny" in capsys.readouterr().out and history_again == history
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    trained_gan("tiny", cfg, x, data="other eight")  # other data: trained again, not loaded
    assert "Loaded" not in capsys.readouterr().out



def test_trained_gan_snapshots_are_the_run_at_each_step_and_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    cfg = GANConfig(space="pixels", width=2, n_noise=4, n_steps=4, batch_size=4)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    snapshots, history = trained_gan_snapshots("tiny_run", cfg, x, None, [2, 4], data="eight")
    assert sorted(snapshots) == [2, 4] and len(history["step"]) > 0
    short, _ = train_gan(replace(cfg, n_steps=2), x)  # the same run stopped after 2 steps (constant learning rate)
    full, _ = train_gan(cfg, x)
    for step, reference in ((2, short), (4, full)):
        assert all(torch.equal(a, b) for a, b in zip(snapshots[step].state_dict().values(), reference.state_dict().values()))
    capsys.readouterr()
    again, history_again = trained_gan_snapshots("tiny_run", cfg, x, None, [2, 4], data="eight")
    assert capsys.readouterr().out.count("Loaded tiny_run") == 2 and history_again == history
    assert all(torch.equal(a, b) for s in (2, 4) for a, b in zip(snapshots[s].state_dict().values(), again[s].state_dict().values()))
    with pytest.raises(ValueError, match="end at cfg.n_steps"):
        trained_gan_snapshots("tiny_run", cfg, x, None, [2, 3])
    with pytest.raises(ValueError, match="must increase"):
        trained_gan_snapshots("tiny_run", cfg, x, None, [4, 2, 4])


def test_superres_shapes_and_losses():
    x = torch.rand(4, 1, 28, 28)
    low = downsample(x)
    assert low.shape == (4, 1, 7, 7) and bicubic_upsample(low).shape == (4, 1, 28, 28)
    model = SRNet(SRConfig(width=4))
    assert model(low).shape == (4, 1, 28, 28)
    assert SRNet(SRConfig(width=4, factor=2))(downsample(x, 2)).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="factor"):
        SRNet(SRConfig(factor=3))
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0])
    want = F.mse_loss(low, low * 0.5) + 0.1 * F.binary_cross_entropy_with_logits(logits, torch.ones(4))
    assert torch.allclose(superres_loss(low, low * 0.5, logits, 0.1), want)
    assert high_frequency_energy(torch.zeros(1, 1, 8, 8)) == 0.0
    assert high_frequency_energy(x) > high_frequency_energy(bicubic_upsample(low))


def test_srnet_starts_from_the_same_weights_whatever_ran_before():
    """Lesson 07 seeds the global RNG before training it, lesson 10 and scripts do not: the same seed must give the same
    network (its layers were once built outside the seeded block, and each process trained another network)."""
    torch.manual_seed(1)
    a = SRNet(SRConfig(width=4))
    torch.randn(1234)
    b = SRNet(SRConfig(width=4))
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not torch.equal(SRNet(SRConfig(width=4, seed=1)).net[0].weight, a.net[0].weight)
    state = torch.random.get_rng_state()
    SRNet(SRConfig(width=4))
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random numbers are left alone


def test_train_superres_tiny():
    model, history = train_superres(SRConfig(width=4, n_steps=2, batch_size=4, adv_weight=0.01), torch.rand(8, 1, 28, 28),
                                    progress=False)
    assert set(history) >= {"mse", "d_loss"} and not model.training


def test_lesson07_superres_trains_on_one_thread_whatever_the_caller_uses(tmp_path, monkeypatch):
    """Lesson 07 trains it on one thread; a lesson or script on two threads trains (and caches) it on one thread too."""
    import course.superres as superres
    from course.device import cpu_threads

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    seen = []

    def fake_train(cfg, x, device="cpu", live=None):
        seen.append(torch.get_num_threads())
        return SRNet(replace(cfg, width=4)), {"mse": [0.0]}

    monkeypatch.setattr(superres, "train_superres", fake_train)
    monkeypatch.setattr("course.lesson_configs.lesson07_sr_config", lambda device=None: SRConfig(width=4, n_steps=1))
    with cpu_threads(2):
        superres.lesson07_superres("cpu", torch.rand(8, 1, 28, 28))
        assert torch.get_num_threads() == 2  # restored afterwards
    assert seen == [1]
