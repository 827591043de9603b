"""Generative adversarial networks: a generator against a discriminator (Goodfellow et al. 2014).

Taught in 07_gan; lesson 08 compares `lesson07_gan` with diffusion.

API
---
- `GANConfig`: every setting that changes the trained result. `space="pixels"` is a DCGAN on 28x28
  images (Radford et al. 2016); `space="latent"` generates lesson 05's 4x7x7 latents, which the frozen
  decoder turns into pixels. `n_classes > 0` makes both networks class-conditional (the discriminator
  by projection, Miyato & Koyama 2018); `spectral_norm=True` bounds every layer of D (Miyato et al. 2018).
- `build_gan(cfg) -> (generator, discriminator)`; `generator(noise, y) -> samples`, `discriminator(x, y) -> logits (B,)`.
- `d_loss(real_logits, fake_logits, kind)`, `g_loss(fake_logits, kind)` for kind "bce", "minimax" or "hinge".
- `gan_step(...)`: one discriminator update then one generator update; returns the losses as floats.
- `train_gan(cfg, x, y, device, live, on_samples) -> (generator, history)` (the EMA generator when ema_decay > 0).
- `generate(generator, labels, seed, truncation, autoencoder) -> images in [0, 1]`.
- `largest_singular_value(w, n_iter)`: the power iteration spectral normalisation uses.
- `lesson07_gan(device) -> (generator, history)`: the lesson's best GAN, loaded from the cache or trained the
  same way; lesson 08 samples it with `generate(generator, labels, truncation=BEST_TRUNCATION)`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from course.validate import require_images

LOSSES = ("bce", "minimax", "hinge")
LATENT_SHAPE = (4, 7, 7)  # lesson 05's latent autoencoder (course.autoencoder.LATENT_CONFIG)


@dataclass
class GANConfig:
    """Shape and training settings of one GAN (generator and discriminator)."""

    space: str = "pixels"  # "pixels": 1x28x28 images in [-1, 1]; "latent": scaled 4x7x7 latents of lesson 05
    n_noise: int = 32  # length of the noise vector the generator starts from
    width: int = 32  # channels (pixels) or hidden units / 8 (latent) of both networks
    n_classes: int = 0  # 0: unconditional; 10: one generator and one projection discriminator for every digit
    loss: str = "bce"  # "bce" (non-saturating), "minimax" (saturating, as in the 2014 paper) or "hinge"
    spectral_norm: bool = False
    lr_g: float = 2e-4
    lr_d: float = 2e-4  # lr_d > lr_g: two time-scale update rule (TTUR, Heusel et al. 2017)
    beta1: float = 0.5  # Adam's momentum; GANs train better with little of it (DCGAN: 0.5; SN-GAN: 0)
    beta2: float = 0.999
    batch_size: int = 128
    n_steps: int = 1000
    ema_decay: float = 0.0  # > 0: sample from an exponential moving average of the generator's weights
    seed: int = 0


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return torch_spectral_norm(layer) if on else layer


class Generator(nn.Module):
    """Noise (B, n_noise) and labels (B,) -> a batch of images (B, 1, 28, 28) in [-1, 1] or latents (B, 4, 7, 7)."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg, w = cfg, cfg.width
        n_in = cfg.n_noise * (2 if cfg.n_classes else 1)  # the class embedding is appended to the noise
        self.embed = nn.Embedding(cfg.n_classes, cfg.n_noise) if cfg.n_classes else None
        if cfg.space == "pixels":  # DCGAN: project to 7x7, then transposed convolutions double the size twice
            self.net = nn.Sequential(
                nn.Linear(n_in, 2 * w * 7 * 7), nn.Unflatten(1, (2 * w, 7, 7)), nn.BatchNorm2d(2 * w), nn.ReLU(),
                nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU(),  # (B, w, 14, 14)
                nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1), nn.Tanh(),  # (B, 1, 28, 28)
            )
        elif cfg.space == "latent":  # 196 numbers: a small MLP is enough, and fast on a CPU
            h = 8 * w
            self.net = nn.Sequential(
                nn.Linear(n_in, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(),
                nn.Linear(h, 4 * 7 * 7), nn.Unflatten(1, LATENT_SHAPE),  # (B, 4, 7, 7)
            )
        else:
            raise ValueError(f"space must be 'pixels' or 'latent', got {cfg.space!r}")

    def forward(self, noise: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if noise.ndim != 2 or noise.shape[1] != self.cfg.n_noise:
            raise ValueError(f"noise must be (B, {self.cfg.n_noise}), got {tuple(noise.shape)}")
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: pass labels y (B,)")
            noise = torch.cat([noise, self.embed(y)], dim=1)  # (B, 2 * n_noise)
        return self.net(noise)


class Discriminator(nn.Module):
    """Images or latents (B, ...) and labels (B,) -> one logit per sample (B,): high means "real".

    Class-conditional by projection (Miyato & Koyama 2018): logit = psi(h) + <embed(y), h>, where
    h is the feature vector of the sample; the inner product asks "does h look like class y?".
    """

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg, w, sn = cfg, cfg.width, cfg.spectral_norm
        if cfg.space == "pixels":  # DCGAN: strided convolutions halve the size twice, LeakyReLU, no pooling
            n_features = 2 * w * 7 * 7
            self.features = nn.Sequential(
                _sn(nn.Conv2d(1, w, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.2),  # (B, w, 14, 14)
                _sn(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.2),  # (B, 2w, 7, 7)
                nn.Flatten(),  # (B, 2w*49)
            )
        elif cfg.space == "latent":
            n_features = 8 * w
            self.features = nn.Sequential(
                nn.Flatten(), _sn(nn.Linear(4 * 7 * 7, n_features), sn), nn.LeakyReLU(0.2),
                _sn(nn.Linear(n_features, n_features), sn), nn.LeakyReLU(0.2),
            )
        else:
            raise ValueError(f"space must be 'pixels' or 'latent', got {cfg.space!r}")
        self.out = _sn(nn.Linear(n_features, 1), sn)
        self.embed = _sn(nn.Embedding(cfg.n_classes, n_features), sn) if cfg.n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.space == "pixels":
            require_images(x, "images", 1, 28)
        elif tuple(x.shape[1:]) != LATENT_SHAPE:
            raise ValueError(f"latents must be (B, 4, 7, 7), got {tuple(x.shape)}")
        h = self.features(x)  # (B, n_features)
        logits = self.out(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass labels y (B,)")
            logits = logits + (self.embed(y) * h).sum(1)  # projection term
        return logits


def build_gan(cfg: GANConfig) -> tuple[Generator, Discriminator]:
    """Return a new (generator, discriminator) pair, initialised the same for the same cfg.seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return Generator(cfg), Discriminator(cfg)


def _check_kind(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Return the discriminator's loss (a scalar) from its logits on real and on generated samples.

    bce/minimax: -log D(x) - log(1 - D(G(z))) with D = sigmoid(logit), i.e. softplus(-real) + softplus(fake);
    hinge: relu(1 - real) + relu(1 + fake) (Lim & Ye 2017), each averaged over the batch.
    """
    _check_kind(kind)
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)


def g_loss(fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Return the generator's loss (a scalar) from the discriminator's logits on generated samples.

    minimax: log(1 - D(G(z))) (saturates when D wins); bce: -log D(G(z)) (non-saturating); hinge: -logit.
    """
    _check_kind(kind)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def sample_inputs(cfg: GANConfig, n: int, device, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return (noise (n, n_noise), labels (n,) or None) to feed the generator, drawn on the CPU and moved."""
    noise = torch.randn(n, cfg.n_noise, generator=generator)
    labels = torch.randint(cfg.n_classes, (n,), generator=generator) if cfg.n_classes else None
    return noise.to(device), (labels.to(device) if labels is not None else None)


def gan_step(generator: Generator, discriminator: Discriminator, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, x_real: torch.Tensor, y_real: torch.Tensor | None,
             cfg: GANConfig, noise: torch.Tensor | None = None, y_fake: torch.Tensor | None = None) -> dict[str, float]:
    """Do one discriminator update, then one generator update; return d_loss, g_loss and D's mean outputs as floats.

    `noise` (and `y_fake`) are drawn here unless given.
    """
    if noise is None:
        noise, y_fake = sample_inputs(cfg, len(x_real), x_real.device)
    y_real = y_real if cfg.n_classes else None
    fake = generator(noise, y_fake)
    # 1. Discriminator: real up, fake down. detach(): this loss must not reach the generator's weights.
    real_logits, fake_logits = discriminator(x_real, y_real), discriminator(fake.detach(), y_fake)
    loss_d = d_loss(real_logits, fake_logits, cfg.loss)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    # 2. Generator: through the *updated* discriminator, no detach, so gradients flow back into G.
    loss_g = g_loss(discriminator(fake, y_fake), cfg.loss)
    opt_g.zero_grad()
    loss_g.backward()  # also leaves gradients on D's weights: opt_d.zero_grad() clears them next step
    opt_g.step()
    return {"d_loss": loss_d.item(), "g_loss": loss_g.item(),
            "D(real)": torch.sigmoid(real_logits).mean().item(), "D(fake)": torch.sigmoid(fake_logits).mean().item()}


def train_gan(cfg: GANConfig, x: torch.Tensor, y: torch.Tensor | None = None, device: torch.device | str = "cpu",
              live=None, on_samples: Callable[[int, Generator], None] | None = None, every_seconds: float = 5.0,
              models: tuple[Generator, Discriminator] | None = None, log_every: int = 50,
              progress: bool = True) -> tuple[Generator, dict[str, list[float]]]:
    """Train a GAN on samples x (pixels in [-1, 1] or scaled latents); return (generator in eval mode, history).

    The generator returned is the EMA copy when cfg.ema_decay > 0. `on_samples(step, generator)` is
    called at most every `every_seconds` (e.g. to redraw a sample grid); `live` is a LiveLoss.
    `models` continues training a (generator, discriminator) pair from build_gan instead of new ones.
    """
    from course.ema import EMA
    from course.train import train_steps

    if cfg.n_classes and y is None:
        raise ValueError("a class-conditional GAN needs the labels y")
    torch.manual_seed(cfg.seed)
    generator, discriminator = (m.to(device).train() for m in (models or build_gan(cfg)))
    opt_g = torch.optim.Adam(generator.parameters(), cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    ema = EMA(generator, cfg.ema_decay) if cfg.ema_decay > 0 else None
    g = torch.Generator().manual_seed(cfg.seed)
    last = [time.perf_counter()]

    def step(i: int) -> dict[str, float]:
        idx = torch.randint(len(x), (cfg.batch_size,), generator=g)
        out = gan_step(generator, discriminator, opt_g, opt_d, x[idx].to(device),
                       y[idx].to(device) if y is not None else None, cfg)
        if ema is not None:
            ema.update(generator)
        if on_samples is not None and (time.perf_counter() - last[0] >= every_seconds or i + 1 == cfg.n_steps):
            on_samples(i + 1, ema.model if ema is not None else generator)
            generator.train()  # on_samples may have switched it to eval mode to sample
            last[0] = time.perf_counter()
        return out

    history = train_steps(step, cfg.n_steps, log_every, live, progress, desc="GAN")
    best = ema.model if ema is not None else generator
    return best.eval(), history


@torch.no_grad()
def generate(generator: Generator, labels: torch.Tensor | None = None, n: int | None = None, seed: int = 0,
             truncation: float = 1.0, autoencoder: nn.Module | None = None, batch_size: int = 1000) -> torch.Tensor:
    """Return n (or len(labels)) generated images in [0, 1], (N, 1, 28, 28), on the CPU; the same seed gives the same images.

    `truncation` < 1 scales the noise towards 0 (the truncation trick, Brock et al. 2019): typical,
    cleaner samples at the cost of variety. A latent GAN's samples are decoded by `autoencoder`
    (default: lesson 05's latent autoencoder from course.autoencoder.latent_autoencoder).
    """
    cfg = generator.cfg
    if cfg.n_classes and labels is None:
        raise ValueError("this generator is class-conditional: pass labels, e.g. torch.arange(100) % 10")
    n = len(labels) if labels is not None else n
    if n is None:
        raise ValueError("pass labels or n")
    device = next(generator.parameters()).device
    generator.eval()
    noise = truncation * torch.randn(n, cfg.n_noise, generator=torch.Generator().manual_seed(seed))
    out = []
    for i in range(0, n, batch_size):
        yb = labels[i : i + batch_size].to(device) if labels is not None else None
        out.append(generator(noise[i : i + batch_size].to(device), yb).cpu())
    samples = torch.cat(out)
    if cfg.space == "pixels":
        return ((samples + 1) / 2).clamp(0, 1)  # tanh output in [-1, 1] -> pixels in [0, 1]
    from course.latent import decode_latents

    if autoencoder is None:
        from course.autoencoder import latent_autoencoder

        autoencoder = latent_autoencoder(device)
    return decode_latents(autoencoder, samples)


def largest_singular_value(w: torch.Tensor, n_iter: int = 20, u: torch.Tensor | None = None) -> torch.Tensor:
    """Return sigma(W), the largest singular value of w reshaped to (out, -1), by power iteration (Miyato et al. 2018, alg. 1).

    Spectral normalisation divides W by this, so that no layer can stretch its input by more than 1.
    """
    m = w.detach().reshape(w.shape[0], -1)  # (out, in): a conv kernel counts as a matrix
    u = torch.randn(m.shape[0], generator=torch.Generator().manual_seed(0)) if u is None else u
    for _ in range(n_iter):
        v = F.normalize(m.T @ u, dim=0)  # v <- W^T u / |W^T u|
        u = F.normalize(m @ v, dim=0)  # u <- W v / |W v|
    return u @ m @ v  # sigma = u^T W v


# The lesson's best GAN (section 5 of 07_gan): class-conditional, in lesson 05's latent space, hinge loss,
# spectral norm, two learning rates, EMA; sampled with truncation BEST_TRUNCATION.
BEST_CONFIG = GANConfig(space="latent", n_noise=32, width=32, n_classes=10, loss="hinge", spectral_norm=True,
                        lr_g=4e-4, lr_d=8e-4, beta1=0.0, beta2=0.9, batch_size=256, n_steps=3000, ema_decay=0.995)
BEST_NAME = "07_latent_gan"
BEST_TRUNCATION = 0.7


def best_config(device: torch.device | str | None = None) -> GANConfig:
    """Return BEST_CONFIG with the number of steps for this device (four times more on a GPU, via by_device)."""
    from dataclasses import replace

    from course.device import by_device

    return replace(BEST_CONFIG, n_steps=by_device(cpu=BEST_CONFIG.n_steps, gpu=4 * BEST_CONFIG.n_steps, device=device))


def trained_gan(name: str, cfg: GANConfig, x: torch.Tensor, y: torch.Tensor | None = None,
                device: torch.device | str = "cpu", data: str = "", live=None,
                on_samples: Callable[[int, Generator], None] | None = None) -> tuple[Generator, dict[str, list[float]]]:
    """Return (generator, history) of train_gan(cfg, x, y): loaded if trained before under `name` with this config and
    `data` (which must name the training set x, y), else trained now and cached (course.cache.trained).

    `live` and `on_samples` are train_gan's and show the training when it happens (not when the model is loaded).
    """
    from course.cache import trained

    return trained(name, cfg, lambda: Generator(cfg), lambda: train_gan(cfg, x, y, device, live=live, on_samples=on_samples),
                   device, data)


def trained_gan_snapshots(name: str, cfg: GANConfig, x: torch.Tensor, y: torch.Tensor | None, steps: list[int],
                          device: torch.device | str = "cpu",
                          data: str = "") -> tuple[dict[int, Generator], dict[str, list[float]]]:
    """Return ({step: the generator after that many steps}, history) of one train_gan(cfg, x, y) run, cfg.n_steps being
    the last of `steps`: loaded if cached under `name`, `cfg` and `data`, else trained now (on one CPU thread, as
    lesson 07's GANs) with a copy kept at each of `steps`, and cached."""
    import copy

    from course.cache import load_if_trained, save_trained
    from course.device import small_model_threads

    if not steps or sorted(set(steps)) != list(steps) or steps[-1] != cfg.n_steps:
        raise ValueError(f"steps must increase and end at cfg.n_steps ({cfg.n_steps}), got {steps}")
    snapshots, history = {}, None
    for step in steps:
        generator = Generator(cfg).to(device)
        history = load_if_trained(generator, cfg, f"{name}_step{step}", data)
        if history is None:
            break
        snapshots[step] = generator.eval()
    else:
        return snapshots, history

    snapshots = {}

    def keep(step: int, generator: Generator) -> None:
        if step in steps:
            snapshots[step] = copy.deepcopy(generator).eval()

    with small_model_threads(device):
        _, history = train_gan(cfg, x, y, device, on_samples=keep, every_seconds=0)
    for step, generator in snapshots.items():
        save_trained(generator, cfg, f"{name}_step{step}", history, data)
    return snapshots, history


def lesson07_gan(device: torch.device | str = "cpu", cfg: GANConfig | None = None, live=None,
                 on_samples: Callable | None = None, x_train: torch.Tensor | None = None,
                 y_train: torch.Tensor | None = None) -> tuple[Generator, dict[str, list[float]]]:
    """Return (generator, history) of lesson 07's best GAN: loaded if trained before, else trained now the same way.

    `cfg` defaults to best_config(device); x_train, y_train default to the active data set's training set (course.data.load_digits). Sample it with generate(generator, labels, truncation=BEST_TRUNCATION).
    On a CPU it trains on one thread, as lesson 07 does, so whichever lesson trains it, the weights are the same.
    """
    cfg = cfg or best_config(device)
    from course.cache import trained
    from course.device import small_model_threads
    from course.latent import digit_latents

    def train():
        z, y = digit_latents(device, x_train, y_train)
        with small_model_threads(device):
            return train_gan(cfg, z, y, device, live=live, on_samples=on_samples)

    return trained(BEST_NAME, cfg, lambda: Generator(cfg), train, device, data="glyphs")
