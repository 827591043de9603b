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
