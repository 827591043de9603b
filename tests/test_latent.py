"""course.latent's link to lesson 05 (its caching is tested in test_autoencoder.py; encode/decode and
sample_digits in test_diffusion.py)."""
import json
import os

from course.latent import VAE_CONFIG

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vae_config_is_the_one_lesson_05_trains():
    with open(os.path.join(ROOT, "solutions", "05_autoencoder.ipynb")) as f:
        source = "\n".join("".join(cell["source"]) for cell in json.load(f)["cells"])
    assert "vae_cfg = AutoencoderConfig(latent_dim=16, variational=True, kl_weight=1.0, n_epochs=2)" in source
    assert VAE_CONFIG.latent_dim == 16 and VAE_CONFIG.variational and VAE_CONFIG.n_epochs == 2
    assert '"05_vae"' in source
