"""Latent diffusion: run the diffusion model in the small latent space of an autoencoder (Rombach et al. 2022).

Taught in 08_diffusion. The autoencoder comes from course.autoencoder (lesson 05): `encode` gives a
(4, 7, 7) latent of a 28x28 digit, `decode` turns a latent back into pixels, and `latent_scale`
makes the latents' standard deviation 1, the scale the noise schedule assumes.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from course.autoencoder import Autoencoder, AutoencoderConfig, trained_autoencoder
from course.diffusion import NoiseSchedule, SamplerConfig, ddim_sample
from course.train import predict

# Lesson 05's VAE (its section 6): 16 latent numbers, KL weight beta = 1 (the loss is the negative ELBO itself), two
# epochs in batches of 64 at a peak rate of 0.02 (found by trials: recognisability 0.385 -> 0.443, recall 0.666 ->
# 0.745 against batches of 128 at 0.01). Lesson 05's beta sweep trains it with other KL weights (beta = 5 gives the
# most recognisable samples, with half the recall); lessons 07, 08 and 10 compare with this one. Cached as "05_vae".
VAE_CONFIG = AutoencoderConfig(latent_dim=16, variational=True, kl_weight=1.0, n_epochs=2, batch_size=64, lr=2e-2)
VAE_NAME = "05_vae"


@torch.no_grad()
def encode_latents(autoencoder: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Return the scaled mean latents (N, C, h, w) of images x in [0, 1], on the CPU (unit variance overall)."""
    return predict(autoencoder, x, batch_size, fn=autoencoder.encode) * autoencoder.latent_scale.cpu()


@torch.no_grad()
def decode_latents(autoencoder: nn.Module, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Return images in [0, 1] (N, C, H, W), on the CPU, decoded from scaled latents z."""
    scale = autoencoder.latent_scale
    return predict(autoencoder, z, batch_size, fn=lambda zb: autoencoder.decode(zb / scale))


# Lesson 08's sampler: 25 DDIM steps of a v-predicting model with guidance 3 (chosen by its measured sweeps).
DIGIT_SAMPLER = SamplerConfig(n_steps=25, guidance=3.0, prediction="v")


@torch.no_grad()
def sample_digits(model: nn.Module, schedule: NoiseSchedule, labels: torch.Tensor, shape: tuple[int, ...],
                  decode: Callable[[torch.Tensor], torch.Tensor], sampler: SamplerConfig = DIGIT_SAMPLER,
                  seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """Return images in [0, 1] (N, 1, 28, 28), one per label, drawn with DDIM and classifier-free guidance.

    `shape` is one sample's shape in the model's space, e.g. (4, 7, 7) for latents or (1, 28, 28)
    for pixels; `decode` turns the model's samples into images (decode_latents or from_signed).
    The same seed gives the same samples.
    """
    g = torch.Generator().manual_seed(seed)
    device = schedule.alpha_bar.device
    null = model.cfg.n_classes
    out = []
    for i in range(0, len(labels), batch_size):
        yb = labels[i : i + batch_size].to(device)
        x = ddim_sample(model, schedule, (len(yb), *shape), sampler, cond=yb, null_cond=torch.full_like(yb, null), generator=g)
        out.append(decode(x))
    return torch.cat(out)


def digit_latents(device: torch.device | str = "cpu", x: torch.Tensor | None = None,
                  y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (latents (N, 4, 7, 7) with unit std, labels) of `x`, `y` (default: the active data set's training set)
    under lesson 05's latent autoencoder: what the latent GAN and latent diffusion train on."""
    from course.autoencoder import latent_autoencoder
    from course.data import active_digits

    if x is None:
        digits = active_digits()
        x, y = digits.x_train, digits.y_train
    return encode_latents(latent_autoencoder(device, x), x), y


def lesson05_vae(device: torch.device | str = "cpu", x_train: torch.Tensor | None = None,
                 cfg: AutoencoderConfig = VAE_CONFIG) -> Autoencoder:
    """Return lesson 05's VAE (eval mode, on `device`): loaded if lesson 05 trained it, else trained now the same way.
    Lesson 08 compares its samples with diffusion's."""
    return trained_autoencoder(cfg, VAE_NAME, device, x_train)[0]


def lesson08_config(device: torch.device | str | None = None):
    """Return the DiffusionConfig of lesson 08's latent model (its section 5): class-conditional, v-prediction,
    min-SNR weighting, 2,600 steps of 128 latents on a CPU (4,000 of 256 on a GPU), with a copy of the EMA weights kept
    after a third of the steps (section 8 compares it with the pixel model, trained about as long)."""
    from course.device import by_device
    from course.diffusion import DiffusionConfig, ScheduleConfig
    from course.unet import UNetConfig

    unet = UNetConfig(in_channels=4, size=7, widths=by_device(cpu=(32, 64), gpu=(64, 128), device=device), n_classes=10)
    steps = by_device(cpu=2600, gpu=4000, device=device)
    # channels_last: 97 ms a step of 256 on a 2-core CPU against 114.
    # lr 6e-3 (peak of the warm-up-then-cosine schedule): Frechet of 1,000 samples, ancestral at guidance 1.5, 900 steps
    # of 256, with lr 2e-3 / 3e-3 / 4e-3 / 6e-3 / 8e-3: 4.29 / 3.44 / 3.24 / 2.93 / 3.13 (recall 0.71 / 0.74 / 0.72 /
    # 0.75 / 0.74). Not chosen: 1,100 steps at 2e-3 (3.90, 15 s more), widths (48, 96) (2.98 in 148 s of training, not 78).
    # Batches of 128, 2,600 steps (125 s): smaller batches, more updates, in 45 s more. Frechet / precision / recall /
    # recognisable of 1,000 samples, 100 ancestral steps at guidance 1.75 below 0.8 T (lesson 08's best sampler), two
    # sampling seeds: 2.32 / 0.866 / 0.807 / 0.986 and 2.01 / 0.848 / 0.810 / 0.985; with 900 steps of 256: 3.26 /
    # 0.819 / 0.801 / 0.976 and 2.81 / 0.819 / 0.795 / 0.978; 1,500 of 256 (132 s): 2.79 / 0.860 / 0.791 / 0.981;
    # 2,000 of 128 (100 s): 2.66 / 0.831 / 0.810 / 0.982 and 2.21 / 0.832 / 0.788 / 0.980; 2,600 of 128 at lr 4e-3:
    # 2.47 / 0.845 / 0.812 / 0.979 and 2.14 / 0.851 / 0.794 / 0.984; another training seed: 2.63 / 0.841 / 0.812 / 0.978.
    return DiffusionConfig(unet=unet, schedule=ScheduleConfig(1000, "cosine"), prediction="v", weighting="min_snr",
                           p_uncond=0.1, train_steps=steps, batch_size=by_device(cpu=128, gpu=256, device=device),
                           lr=6e-3, ema_decay=0.995, channels_last=True,
                           snapshot_steps=(by_device(cpu=850, gpu=1300, device=device),))  # about a third, on a logged step


def lesson08_latent_diffusion(device: torch.device | str = "cpu", x_train: torch.Tensor | None = None,
                              y_train: torch.Tensor | None = None) -> tuple[nn.Module, dict]:
    """Return (model, history) of lesson 08's latent diffusion model: loaded if lesson 08 cached it, else trained now the
    same way (about two minutes on a CPU). Sample it with `sample_digits(model, schedule, labels, (4, 7, 7), decode)`."""
    from course.cache import trained
    from course.device import big_model_threads
    from course.diffusion import train_diffusion
    from course.unet import UNet

    cfg = lesson08_config(device)

    def train():
        with big_model_threads(device):  # as lesson 08 trains it (on every core), whatever the caller set
            z, y = digit_latents(device, x_train, y_train)
            return train_diffusion(cfg, z, y, device)

    return trained("08_latent_diffusion", cfg, lambda: UNet(cfg.unet), train, device)
