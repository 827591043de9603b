"""Super-resolution: draw a 28x28 digit from a 7x7 one, with a squared-error loss or with an added adversarial loss.

Taught in 07_gan. The adversarial variant is SRGAN's idea (Ledig et al. 2017): the squared error alone
rewards the average of all plausible sharp images, a blur; a discriminator that has seen real sharp
digits pushes the network to pick one sharp answer instead (Blau & Michaeli 2018: perception vs distortion).

API
---
- `SRConfig`; `SRNet(cfg)`: `forward(x_low) -> x_high` in [0, 1], (B, 1, 28, 28) from (B, 1, 7, 7).
- `downsample(x, factor)`, `bicubic_upsample(x_low, factor)`: the degradation and the classic baseline.
- `superres_loss(sr, hr, fake_logits, adv_weight)`: squared error plus adv_weight times the non-saturating GAN loss.
- `train_superres(cfg, x_high, device, init, live) -> (model, history)`.
- `high_frequency_energy(x)`: the mean squared Laplacian of images, a measure of sharpness.
- `lesson07_superres(device, x_train) -> (model, history)`: lesson 07's squared-error network, cached (10_limits reuses it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.gan import Discriminator, GANConfig, d_loss
from course.train import predict
from course.validate import require_images


@dataclass
class SRConfig:
    """Shape and training settings of one super-resolution network."""

    factor: int = 4  # 7x7 -> 28x28
    width: int = 32
    adv_weight: float = 0.0  # 0: plain squared error; > 0: SRGAN-style adversarial term of this weight
    lr: float = 2e-3
    lr_d: float = 4e-4
    batch_size: int = 64
    n_steps: int = 500
    seed: int = 0


def downsample(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Return images shrunk by `factor` in each direction by averaging factor x factor blocks: (B, C, H/f, W/f)."""
    return F.avg_pool2d(x, factor)


def bicubic_upsample(x_low: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Return images enlarged by `factor` with bicubic interpolation, clipped to [0, 1]."""
    return F.interpolate(x_low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


class SRNet(nn.Module):
    """Low-resolution (B, 1, h, w) -> high-resolution (B, 1, h*f, w*f) in [0, 1].

    Convolutions read the small image, transposed convolutions double it (twice for f = 4; the last one
    outputs one channel, so no layer works at full size with many channels: fast on a CPU), and the output
    is a correction added to the bicubic upsampling (a residual: the network only learns the detail).
    """

    def __init__(self, cfg: SRConfig):
        super().__init__()
        if cfg.factor not in (2, 4):
            raise ValueError(f"factor must be 2 or 4, got {cfg.factor}")
        self.cfg, w = cfg, cfg.width
        with torch.random.fork_rng(devices=[]):  # the same initial weights for the same seed, global RNG untouched
            torch.manual_seed(cfg.seed)
            layers = [nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU()]  # (B, w, h, w)
            for i in range({2: 1, 4: 2}[cfg.factor]):
                last = i == {2: 1, 4: 2}[cfg.factor] - 1
                if last:  # the last doubling paints the correction straight into 1 channel (cheap at full size)
                    layers += [nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1)]
                else:
                    layers += [nn.ConvTranspose2d(w, w, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1),
                               nn.ReLU()]
            self.net = nn.Sequential(*layers)

    def forward(self, x_low: torch.Tensor) -> torch.Tensor:
        require_images(x_low, "low-resolution images", 1)
        base = bicubic_upsample(x_low, self.cfg.factor)  # (B, 1, H, W)
        return (base + self.net(x_low * 2 - 1)).clamp(0, 1)


def superres_loss(sr: torch.Tensor, hr: torch.Tensor, fake_logits: torch.Tensor | None = None,
                  adv_weight: float = 0.0) -> torch.Tensor:
    """Return the super-resolution network's loss: mean squared error + adv_weight * softplus(-D(sr)).mean()."""
    loss = F.mse_loss(sr, hr)
    if adv_weight > 0:
        loss = loss + adv_weight * F.softplus(-fake_logits).mean()  # non-saturating: -log D(sr)
    return loss


def sr_discriminator(seed: int = 0) -> Discriminator:
    """Return a DCGAN discriminator with spectral norm for 28x28 digits (inputs in [-1, 1])."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Discriminator(GANConfig(space="pixels", width=32, spectral_norm=True))


def train_superres(cfg: SRConfig, x_high: torch.Tensor, device: torch.device | str = "cpu", init: SRNet | None = None,
                   live=None, progress: bool = True) -> tuple[SRNet, dict[str, list[float]]]:
    """Train an SRNet on high-resolution images in [0, 1] (their downsampled copies are the inputs); return (model, history).

    `init` starts from a trained network's weights (SRGAN first trains with squared error, then adds the adversary).
    """
    from course.train import train_steps

    require_images(x_high, "high-resolution images", 1)
    model = SRNet(cfg)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    disc = sr_discriminator(cfg.seed).to(device) if cfg.adv_weight > 0 else None
    opt_d = torch.optim.Adam(disc.parameters(), cfg.lr_d, betas=(0.5, 0.999)) if disc is not None else None
    g = torch.Generator().manual_seed(cfg.seed)

    def step(i: int) -> dict[str, float]:
        hr = x_high[torch.randint(len(x_high), (cfg.batch_size,), generator=g)].to(device)
        sr = model(downsample(hr, cfg.factor))
        out = {}
        if disc is not None:  # 1. the discriminator: real sharp digits vs the network's output (detached)
            loss_d = d_loss(disc(hr * 2 - 1), disc(sr.detach() * 2 - 1), "bce")
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            out["d_loss"] = loss_d.item()
        fake_logits = disc(sr * 2 - 1) if disc is not None else None
        loss = superres_loss(sr, hr, fake_logits, cfg.adv_weight)  # 2. the network: close to hr, and "real" to D
        opt.zero_grad()
        loss.backward()
        opt.step()
        out["mse"] = F.mse_loss(sr.detach(), hr).item()
        return out

    history = train_steps(step, cfg.n_steps, 50, live, progress, desc="super-resolution")
    return model.eval(), history


def upscale(model: SRNet, x_low: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Return the model's high-resolution images for every low-resolution image, in batches, on the CPU."""
    return predict(model, x_low, batch_size)


def high_frequency_energy(x: torch.Tensor) -> float:
    """Return the mean squared response of images (B, C, H, W) to a 3x3 Laplacian: high for sharp strokes, low for blur."""
    require_images(x, "images")
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    kernel = kernel.repeat(x.shape[1], 1, 1, 1).to(x)  # one Laplacian per channel
    return F.conv2d(x.float(), kernel, groups=x.shape[1]).pow(2).mean().item()


def lesson07_superres(device: torch.device | str = "cpu", x_train: torch.Tensor | None = None,
                      live=None) -> tuple[SRNet, dict]:
    """Return (model, history) of lesson 07's squared-error super-resolution network: loaded from the cache, else trained
    now the same way on the active data set's training images (or `x_train`), about 10 s on a CPU, and cached.
    `live` (a LiveLoss) shows the training when it happens. On a CPU it trains on one thread, as lesson 07 does."""
    from course.cache import trained
    from course.device import small_model_threads
    from course.lesson_configs import lesson07_sr_config

    cfg = lesson07_sr_config(device)
    if x_train is None:
        from course.data import active_digits

        x_train = active_digits().x_train

    def train() -> tuple[SRNet, dict]:
        with small_model_threads(device):
            return train_superres(cfg, x_train, device, live=live)

    return trained("07_superres", cfg, lambda: SRNet(cfg), train, device, data="glyphs")
