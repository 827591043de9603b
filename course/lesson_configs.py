"""The configs lessons 06-09 train, small on a CPU and bigger on a GPU: one function per model.

Each setting that grows on a GPU goes through course.device.by_device here, so a lesson's notebook
and the GPU smoke test (tests/test_gpu_settings.py, which sets COURSE_SCALE=gpu) read the same
numbers. Two more live beside the loaders that later lessons call: lesson 07's best GAN
(course.gan.best_config) and lesson 08's latent diffusion model (course.latent.lesson08_config).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from course.device import by_device
from course.diffusion import DiffusionConfig
from course.frames import FrameGeneratorConfig
from course.gan import GANConfig
from course.superres import SRConfig
from course.text2img import TextToImageConfig
from course.unet import UNetConfig

Device = torch.device | str | None


def lesson06_config(device: Device = None) -> FrameGeneratorConfig:
    """Return lesson 06's frame generator: 32-pixel frames on a CPU; on a GPU 64-pixel frames and a 28-pixel
    digit (Moving MNIST's sizes), a wider and deeper model, more data and more steps."""
    return by_device(cpu=FrameGeneratorConfig(),
                     gpu=FrameGeneratorConfig(size=64, patch=28, stages=3, features=32, hidden=64, n_steps=3000,
                                              teacher_forcing_steps=1000, ramp_steps=1000, batch_size=64, n_train=20000),
                     device=device)


def lesson07_dcgan_config(device: Device = None) -> GANConfig:
    """Return lesson 07's DCGAN on pixels (section 2): wider and trained longer on a GPU."""
    return GANConfig(space="pixels", width=by_device(cpu=16, gpu=64, device=device), loss="bce", batch_size=64,
                     n_steps=by_device(cpu=800, gpu=5000, device=device))


def lesson07_latent_config(device: Device = None) -> GANConfig:
    """Return lesson 07's plain latent GAN (section 3), whose number of steps every variant of the lesson shares."""
    return GANConfig(space="latent", width=32, loss="bce", batch_size=256, n_steps=by_device(cpu=500, gpu=3000, device=device))


def lesson07_sr_config(device: Device = None) -> SRConfig:
    """Return lesson 07's super-resolution CNN trained with squared error (section 6)."""
    return SRConfig(n_steps=by_device(cpu=500, gpu=3000, device=device))


def lesson07_srgan_config(device: Device = None) -> SRConfig:
    """Return lesson 07's adversarial super-resolution: the squared-error CNN's config with an adversarial term
    of weight 0.01, a lower learning rate, and its own number of steps."""
    return replace(lesson07_sr_config(device), adv_weight=0.01, lr=5e-4, n_steps=by_device(cpu=300, gpu=2000, device=device))


def lesson08_pixel_config(device: Device = None) -> DiffusionConfig:
    """Return lesson 08's pixel-space diffusion model (section 8): lesson 08's latent recipe on 28x28 pixels with a
    three-level U-Net, twice as wide on a GPU, trained on a CPU about as long as the latent model's snapshot (after a
    third of its steps)."""
    from course.latent import lesson08_config

    unet = UNetConfig(in_channels=1, size=28, widths=by_device(cpu=(16, 32, 64), gpu=(32, 64, 128), device=device), n_classes=10)
    # lr 6e-3 as the latent model: at 240 steps, 2e-3 gave 0.63 recognisable, 6e-3 0.74
    return replace(lesson08_config(device), unet=unet, train_steps=by_device(cpu=170, gpu=4000, device=device),
                   channels_last=False, snapshot_steps=())


def lesson09_config(vocab: tuple[str, ...], max_len: int, device: Device = None) -> TextToImageConfig:
    """Return lesson 09's text-to-image model for a tokenizer's vocabulary and caption length: x0-prediction,
    wider, with bigger batches and more steps on a GPU."""
    return TextToImageConfig(vocab=vocab, max_len=max_len, widths=by_device(cpu=(32, 64), gpu=(64, 128), device=device),
                             n_steps=by_device(cpu=2600, gpu=4000, device=device),
                             batch_size=by_device(cpu=32, gpu=64, device=device),
                             lr=3e-3, prediction="x0", ema_decay=0.995)


def lesson09_short_config(cfg: TextToImageConfig, prediction: str, device: Device = None) -> TextToImageConfig:
    """Return lesson 09's short run (section 6) of `cfg` predicting `prediction`, to compare prediction targets."""
    return replace(cfg, prediction=prediction, n_steps=by_device(cpu=300, gpu=800, device=device))
