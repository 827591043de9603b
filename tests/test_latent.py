"""course.latent's lesson05_vae (encode/decode and sample_digits are tested in test_diffusion.py)."""
import dataclasses
import json
import os

import pytest
import torch

from course.latent import VAE_CONFIG, lesson05_vae

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_vae_config_is_the_one_lesson_05_trains():
    with open(os.path.join(ROOT, "solutions", "05_autoencoder.ipynb")) as f:
        source = "\n".join("".join(cell["source"]) for cell in json.load(f)["cells"])
    assert "vae_cfg = AutoencoderConfig(latent_dim=16, variational=True, kl_weight=1.0, n_epochs=2)" in source
    assert VAE_CONFIG.latent_dim == 16 and VAE_CONFIG.variational and VAE_CONFIG.n_epochs == 2
    assert '"05_vae"' in source


def test_lesson05_vae_trains_once_then_loads(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    cfg = dataclasses.replace(VAE_CONFIG, width=4, n_epochs=1, batch_size=16)
    x = torch.rand(32, 1, 28, 28)
    first = lesson05_vae("cpu", x, cfg)
    second = lesson05_vae("cpu", x, cfg)
    assert "Loaded" in capsys.readouterr().out and not second.training
    with torch.no_grad():
        z = torch.randn(2, *first.latent_shape)
        assert torch.allclose(first.decode(z), second.decode(z), atol=1e-6)
