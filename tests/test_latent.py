"""course.latent's link to lesson 05 (its caching is tested in test_autoencoder.py; encode/decode and
sample_digits in test_diffusion.py)."""
from course.latent import VAE_CONFIG
from solution_notebooks import code_cells


def test_vae_config_is_the_one_lesson_05_trains():
    source = "\n".join(code_cells("05_autoencoder"))
    assert "from course.latent import VAE_CONFIG, VAE_NAME" in source and "vae_cfg = VAE_CONFIG" in source
    assert "trained_autoencoder(vae_cfg, VAE_NAME" in source  # the cache entry lessons 07, 08 and 10 load
    assert VAE_CONFIG.latent_dim == 16 and VAE_CONFIG.variational and VAE_CONFIG.n_epochs == 2
    assert VAE_CONFIG.kl_weight == 1.0  # the plain ELBO: later lessons compare with the VAE its loss defines


def test_lesson08_latent_diffusion_trains_on_lesson_08s_threads_whatever_the_caller_uses(tmp_path, monkeypatch):
    """Lesson 08 trains its latent model on PyTorch's own number of threads; lesson 10, on one thread, must train (and
    cache, under the same key) the same weights, so on the same number."""
    import torch

    import course.device
    import course.diffusion
    import course.latent as latent
    from course.device import cpu_threads
    from course.unet import UNet

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    monkeypatch.setattr(course.device, "STARTUP_THREADS", 3)  # any number but the caller's 1, on any machine
    seen = []

    def fake_latents(device="cpu", x=None, y=None):
        seen.append(("latents", torch.get_num_threads()))
        return torch.randn(4, 4, 7, 7), torch.arange(4)

    def fake_train(cfg, z, y, device="cpu", live=None):
        seen.append(("train", torch.get_num_threads()))
        return UNet(cfg.unet), {"loss": [0.0]}

    monkeypatch.setattr(latent, "digit_latents", fake_latents)
    monkeypatch.setattr(course.diffusion, "train_diffusion", fake_train)
    with cpu_threads(1):
        latent.lesson08_latent_diffusion("cpu")
        assert torch.get_num_threads() == 1  # restored afterwards
    assert seen == [("latents", 3), ("train", 3)]
