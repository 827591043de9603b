"""Convolutional autoencoders: plain, denoising and variational, with a flat or a spatial latent.

Taught in 05_autoencoder; lesson 08 (latent diffusion) reuses `latent_autoencoder`.

API
---
- `AutoencoderConfig`: every setting that changes the trained result (widths, latent shape,
  variational or not, KL weight, input noise, epochs, lr, seed).
  `spatial=False` gives a flat latent of `latent_dim` numbers (lesson 05's compression);
  `spatial=True` gives a latent image of shape (latent_channels, size/4, size/4), e.g. 4x7x7.
- `Autoencoder(cfg)`:
  `encode(x) -> z` the mean latent, (B, latent_dim) or (B, latent_channels, 7, 7);
  `decode(z) -> images` in [0, 1], (B, C, H, W);
  `forward(x) -> (logits, mu, logvar)` with the decoder's logits (logvar is None unless variational);
  `moments(x) -> (mu, logvar)`; `reparameterise(mu, logvar, generator=None) -> z`;
  `latent_scale` (a buffer): multiply latents by it to get roughly unit variance, as the
  latent-diffusion model wants (Rombach et al. 2022 use the same kind of scale factor);
  `latent_shape` (a tuple without the batch dimension).
- `kl_divergence(mu, logvar) -> (B,)`, `reconstruction_loss(logits, x, kind) -> (B,)`,
  `autoencoder_loss(model, x_in, x_target) -> (loss, parts)` the loss as a readable sum.
- `add_noise(x, std, generator) -> noisy images`, clipped to [0, 1].
- `train_autoencoder(cfg, x_train, device, progress=True, live=None) -> (model, history)`.
- `reconstruct(model, x) -> images`, in batches, on the CPU.
- `sample_prior(model, n, seed=0, temperature=1.0) -> images`: a VAE's new images, decoded from
  z ~ N(0, temperature^2 I), on the CPU.
- `LATENT_CONFIG`, `latent_autoencoder(device, x_train=None) -> model`: the spatial latent
  autoencoder of lesson 08, loaded when lesson 05 trained it, otherwise trained here (under a
  minute on a laptop CPU) and saved under the name "05_latent_autoencoder".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.data.image_dataset import to_signed
from course.train import predict, train_steps
from course.validate import require_images

LATENT_NAME = "05_latent_autoencoder"


@dataclass
class AutoencoderConfig:
    """Shape and training settings of one autoencoder."""

    channels: int = 1
    size: int = 28  # must be divisible by 4: two stride-2 steps down, two up
    width: int = 16  # channels of the first layer; doubled after the first downsampling
    spatial: bool = False  # False: flat latent of latent_dim numbers; True: (latent_channels, size/4, size/4)
    latent_dim: int = 32
    latent_channels: int = 4
    variational: bool = False
    kl_weight: float = 1.0  # beta in loss = reconstruction + beta * KL (per image, summed over pixels)
    loss: str = "bce"  # "bce" (binary cross-entropy, sharp digits) or "mse"
    noise_std: float = 0.0  # > 0: a denoising autoencoder, trained to undo Gaussian noise of this std
    n_epochs: int = 1
    batch_size: int = 128
    lr: float = 1e-2  # the peak of the one-cycle schedule (AdamW); batch norm makes a high rate safe
    weight_decay: float = 1e-4
    seed: int = 0


class Autoencoder(nn.Module):
    """Encoder -> bottleneck -> decoder; optionally variational (the encoder gives mu and log-variance).

    Two strided convolutions halve the image twice on the way down (no full-resolution layer: that
    keeps it fast on a CPU), two transposed convolutions double it twice on the way up; batch norm
    after every hidden layer lets one or two epochs at a high learning rate suffice.
    """

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        if cfg.size % 4:
            raise ValueError(f"size must be divisible by 4, got {cfg.size}")
        self.cfg = cfg
        w, s = cfg.width, cfg.size // 4
        n_stats = 2 if cfg.variational else 1  # a VAE's encoder outputs mu and logvar
        self.encoder = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.SiLU(),  # (B, w, H/2, W/2)
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.SiLU(),  # (B, 2w, H/4, W/4)
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.SiLU(),
        )
        if cfg.spatial:
            self.to_latent = nn.Conv2d(2 * w, n_stats * cfg.latent_channels, 3, padding=1)
            self.from_latent = nn.Conv2d(cfg.latent_channels, 2 * w, 3, padding=1)
            self.latent_shape = (cfg.latent_channels, s, s)
        else:
            self.to_latent = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * s * s, n_stats * cfg.latent_dim))
            self.from_latent = nn.Sequential(nn.Linear(cfg.latent_dim, 2 * w * s * s), nn.Unflatten(1, (2 * w, s, s)))
            self.latent_shape = (cfg.latent_dim,)
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(2 * w), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.SiLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.SiLU(),  # (B, w, H/2, W/2)
            nn.ConvTranspose2d(w, cfg.channels, 4, stride=2, padding=1),  # (B, C, H, W) logits; sigmoid gives pixels
        )
        self.register_buffer("latent_scale", torch.ones(()))  # set after training: 1 / std of the latents

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return (mu, logvar) of the latent for images in [0, 1]; logvar is None for a plain autoencoder."""
        h = self.to_latent(self.encoder(to_signed(x)))  # inputs centred on 0 train faster
        if not self.cfg.variational:
            return h, None
        mu, logvar = h.chunk(2, dim=1)  # (B, latent...) each
        return mu, logvar.clamp(-10, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Return the mean latent z of images in [0, 1]: (B, latent_dim) or (B, latent_channels, H/4, W/4)."""
        require_images(x, "images", self.cfg.channels, self.cfg.size)
        return self.moments(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Return the decoder's pixel logits (B, C, H, W) for latents z."""
        return self.decoder(self.from_latent(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return images in [0, 1], (B, C, H, W), decoded from latents z."""
        return torch.sigmoid(self.decode_logits(z))

    def reparameterise(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return z = mu + sigma * eps with eps ~ N(0, I): a sample that gradients flow through (Kingma & Welling 2014)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device) if generator is not None else torch.randn_like(mu)
        return mu + torch.exp(0.5 * logvar) * eps  # sigma = exp(logvar / 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Return (logits of the reconstruction, mu, logvar); a VAE decodes a sample in training, mu in eval."""
        mu, logvar = self.moments(x)
        z = self.reparameterise(mu, logvar) if (self.cfg.variational and self.training) else mu
        return self.decode_logits(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Return KL(N(mu, sigma^2) || N(0, I)) per image, shape (B,): 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).flatten(1).sum(1)


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Return the reconstruction error per image (B,), summed over pixels: binary cross-entropy or squared error."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif kind == "mse":
        per_pixel = (torch.sigmoid(logits) - x) ** 2
    else:
        raise ValueError(f"loss must be 'bce' or 'mse', got {kind!r}")
    return per_pixel.flatten(1).sum(1)


def autoencoder_loss(model: Autoencoder, x_in: torch.Tensor, x_target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Return (loss, parts): the mean over the batch of reconstruction + kl_weight * KL, and each part as a float."""
    logits, mu, logvar = model(x_in)
    recon = reconstruction_loss(logits, x_target, model.cfg.loss).mean()
    if logvar is None:
        return recon, {"reconstruction": recon.item()}
    kl = kl_divergence(mu, logvar).mean()
    loss = recon + model.cfg.kl_weight * kl
    return loss, {"reconstruction": recon.item(), "kl": kl.item()}


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return x plus Gaussian noise of standard deviation `std`, clipped to [0, 1]."""
    noise = torch.randn(x.shape, generator=generator).to(x.device) if generator is not None else torch.randn_like(x)
    return (x + std * noise).clamp(0, 1)


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Return the model's reconstructions (decode of the mean latent) of images x, on the CPU."""
    return predict(model, x, batch_size, fn=lambda xb: model.decode(model.encode(xb)))


@torch.no_grad()
def sample_prior(model: Autoencoder, n: int, seed: int = 0, temperature: float = 1.0,
                 batch_size: int = 500) -> torch.Tensor:
    """Return n images in [0, 1] (n, C, H, W), on the CPU, decoded from z ~ N(0, temperature^2 I) drawn with `seed`.

    temperature 1 samples a VAE's prior N(0, I); below 1 the draws crowd towards its centre, above 1 they spread out.
    """
    z = temperature * torch.randn(n, *model.latent_shape, generator=torch.Generator().manual_seed(seed))  # (n, latent...)
    return predict(model, z, batch_size, fn=model.decode)


@torch.no_grad()
def set_latent_scale(model: Autoencoder, x: torch.Tensor, batch_size: int = 500) -> float:
    """Set and return model.latent_scale = 1 / std of the mean latents of x (so scaled latents have unit variance)."""
    z = predict(model, x, batch_size, fn=model.encode)
    model.latent_scale.fill_(1.0 / z.std().item())
    return model.latent_scale.item()


def train_autoencoder(cfg: AutoencoderConfig, x_train: torch.Tensor, device: torch.device | str = "cpu",
                      progress: bool = True, live=None) -> tuple[Autoencoder, dict[str, list[float]]]:
    """Train an autoencoder from scratch; return (model in eval mode, history of per-epoch floats).

    A denoising autoencoder (cfg.noise_std > 0) sees noisy inputs and is scored against the clean
    images. The history holds the mean losses of every 20 steps (course.train.train_steps); `live`
    may be a course.plot.LiveLoss. Seeds torch with cfg.seed.
    """
    require_images(x_train, "x_train", cfg.channels, cfg.size)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = Autoencoder(cfg).to(device, memory_format=torch.channels_last)  # channels-last: ~1.5x faster convs on a CPU
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(x_train) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.n_epochs * steps_per_epoch)
    order = torch.empty(0, dtype=torch.long)

    def step(i: int) -> dict[str, float]:
        nonlocal order
        if i % steps_per_epoch == 0:  # a new epoch: a new shuffle
            model.train()
            order = torch.randperm(len(x_train), generator=g)
        j = i % steps_per_epoch
        xb = x_train[order[j * cfg.batch_size : (j + 1) * cfg.batch_size]].to(device, memory_format=torch.channels_last)
        x_in = add_noise(xb, cfg.noise_std, g) if cfg.noise_std > 0 else xb
        loss, parts = autoencoder_loss(model, x_in, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.item(), **parts}

    history = train_steps(step, cfg.n_epochs * steps_per_epoch, log_every=20, live=live, progress=progress)
    set_latent_scale(model, x_train[:2000])
    return model.eval(), history


# The latent autoencoder of lesson 08: a light KL keeps the 4x7x7 latent smooth and near N(0, I),
# so that small errors of a diffusion model still decode to clean digits. Its decoder is the ceiling of every latent
# model, so it is chosen by how real its reconstructions look to the judge (Frechet distance of 1,000 test digits'
# reconstructions; new real digits 1.46): width 16 with binary cross-entropy 3.07 (9 s of training on 2 threads),
# width 32 with cross-entropy 2.40, width 16 with squared error 2.31, width 32 with squared error 2.08 (22 s). Lesson
# 08's diffusion samples (guidance 3) went from 8.66 to 4.20 with it (and lesson08_config's 900 steps in the time of
# 800); lesson 07's GAN went from 28.9 to 40.2 (psi 0.7).
LATENT_CONFIG = AutoencoderConfig(spatial=True, latent_channels=4, variational=True, kl_weight=0.01,
                                  width=32, loss="mse", n_epochs=2, lr=1e-2)


def trained_autoencoder(cfg: AutoencoderConfig, name: str, device: torch.device | str = "cpu",
                        x_train: torch.Tensor | None = None, live=None, data: str = "") -> tuple[Autoencoder, dict]:
    """Return (autoencoder in eval mode on `device`, history) cached as `name` with config `cfg`: loaded if trained
    before, else trained now on x_train (default: the active data set's training images, as in lesson 05) and cached.

    On a CPU it trains on one thread, as lesson 05 does, so whichever lesson trains it, the weights are the same.
    `data` names the training images when they are not the default glyphs (part of the cache key).
    """
    from course.cache import trained
    from course.device import small_model_threads

    def train() -> tuple[Autoencoder, dict]:
        x = x_train
        if x is None:
            from course.data import active_digits

            x = active_digits().x_train
        with small_model_threads(device):
            return train_autoencoder(cfg, x, device, live=live)

    return trained(name, cfg, lambda: Autoencoder(cfg), train, device, data)


def latent_autoencoder(device: torch.device | str = "cpu", x_train: torch.Tensor | None = None,
                       cfg: AutoencoderConfig = LATENT_CONFIG) -> Autoencoder:
    """Return lesson 08's latent autoencoder (eval mode, on `device`): loaded if lesson 05 trained it, else trained now."""
    return trained_autoencoder(cfg, LATENT_NAME, device, x_train)[0]
