"""Diffusion from scratch: noise schedules, the forward process, the training loss, DDPM and DDIM sampling.

Taught in 08_diffusion. Equations cite Ho et al. 2020 (DDPM), Song et al. 2021 (DDIM),
Nichol & Dhariwal 2021 (cosine schedule), Salimans & Ho 2022 (v-prediction) and
Ho & Salimans 2022 (classifier-free guidance).

The denoiser is any module called as `model(x_t, t, cond)` where t holds integer steps (B,)
and cond is whatever the model conditions on (class labels, text embeddings, or None).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from course.ema import EMA
from course.unet import UNet, UNetConfig
from course.train import train_steps

PREDICTIONS = ("eps", "v", "x0")
WEIGHTINGS = ("none", "min_snr")


def linear_betas(n_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Return the linear beta schedule of Ho et al. 2020 (sec. 4), shape (n_steps,), scaled to n_steps."""
    scale = 1000 / n_steps  # keeps the total noise the same when n_steps changes
    return torch.linspace(beta_start * scale, beta_end * scale, n_steps, dtype=torch.float64)


def cosine_betas(n_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Return the cosine schedule's betas (eq. 17 of Nichol & Dhariwal 2021), shape (n_steps,)."""
    steps = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


@dataclass
class ScheduleConfig:
    """Which noise schedule, with how many steps."""

    n_steps: int = 1000
    kind: str = "cosine"  # or "linear"


class NoiseSchedule(nn.Module):
    """The forward process q(x_t | x_0) as buffers, so `.to(device)` moves them with the model."""

    def __init__(self, cfg: ScheduleConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ScheduleConfig()
        if cfg.kind not in ("cosine", "linear"):
            raise ValueError(f"unknown schedule {cfg.kind!r}: use 'cosine' or 'linear'")
        betas = cosine_betas(cfg.n_steps) if cfg.kind == "cosine" else linear_betas(cfg.n_steps)
        alpha_bar = torch.cumprod(1 - betas, 0)  # \bar{\alpha}_t
        self.register_buffer("betas", betas.float())  # \beta_t
        self.register_buffer("alpha_bar", alpha_bar.float())

    @property
    def n_steps(self) -> int:
        return self.cfg.n_steps

    def _at(self, values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
        return values[t].reshape(-1, *([1] * (ndim - 1)))  # (B, 1, 1, 1) to broadcast over images

    def level(self, step: int) -> torch.Tensor:
        """Return alpha_bar at `step`, and 1 (no noise left) at step -1, the clean image a sampler ends on."""
        return self.alpha_bar[step] if step >= 0 else torch.ones((), device=self.alpha_bar.device)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Return the signal-to-noise ratio alpha_bar / (1 - alpha_bar) at steps t."""
        ab = self.alpha_bar[t]
        return ab / (1 - ab)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Return x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps   (eq. 4 of Ho et al. 2020)."""
        ab = self._at(self.alpha_bar, t, x0.ndim)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, prediction: str) -> torch.Tensor:
        """Return what the network should predict: eps, v = sqrt(ab) eps - sqrt(1-ab) x0 (Salimans & Ho 2022), or x0."""
        if prediction == "eps":
            return noise
        if prediction == "x0":
            return x0
        if prediction == "v":
            ab = self._at(self.alpha_bar, t, x0.ndim)
            return ab.sqrt() * noise - (1 - ab).sqrt() * x0
        raise ValueError(f"unknown prediction {prediction!r}: use one of {PREDICTIONS}")

    def to_x0_eps(self, x_t: torch.Tensor, out: torch.Tensor, t: torch.Tensor, prediction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (x0_hat, eps_hat) from the network's output under any parameterisation."""
        ab = self._at(self.alpha_bar, t, x_t.ndim)
        if prediction == "eps":
            eps = out
            x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        elif prediction == "x0":
            x0 = out
            eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        elif prediction == "v":
            x0 = ab.sqrt() * x_t - (1 - ab).sqrt() * out
            eps = (1 - ab).sqrt() * x_t + ab.sqrt() * out
        else:
            raise ValueError(f"unknown prediction {prediction!r}: use one of {PREDICTIONS}")
        return x0, eps


def loss_weight(schedule: NoiseSchedule, t: torch.Tensor, prediction: str, weighting: str = "none",
                snr_gamma: float = 5.0) -> torch.Tensor:
    """Return the per-example weight (B,) of the squared error at steps t.

    "min_snr" is Min-SNR-gamma (Hang et al. 2023): every step counts as if it were an x0-prediction
    error weighted by min(SNR, gamma), so nearly clean steps (huge SNR) stop dominating and the
    noisy steps, where the digit's shape is decided, get their share of the gradient.
    """
    if weighting == "none":
        return torch.ones(t.shape, device=t.device)
    if weighting != "min_snr":
        raise ValueError(f"unknown weighting {weighting!r}: use one of {WEIGHTINGS}")
    snr = schedule.snr(t)
    clipped = snr.clamp(max=snr_gamma)
    if prediction == "eps":
        return clipped / snr  # an eps error is an x0 error divided by SNR
    if prediction == "v":
        return clipped / (snr + 1)  # a v error is an x0 error divided by (SNR + 1)
    if prediction == "x0":
        return clipped
    raise ValueError(f"unknown prediction {prediction!r}: use one of {PREDICTIONS}")


def diffusion_loss(model: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, cond=None,
                   prediction: str = "eps", generator: torch.Generator | None = None,
                   weighting: str = "none", snr_gamma: float = 5.0) -> torch.Tensor:
    """Return the (weighted) mean squared error between the network's output and its target at random steps
    (Ho et al. 2020, alg. 1). Steps and noise are drawn on the CPU, so any device gives the same numbers."""
    b = x0.shape[0]
    t = torch.randint(0, schedule.n_steps, (b,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = schedule.add_noise(x0, t, noise)
    out = model(x_t, t, cond)
    per_example = (out - schedule.target(x0, noise, t, prediction)).pow(2).flatten(1).mean(1)  # (B,)
    return (loss_weight(schedule, t, prediction, weighting, snr_gamma) * per_example).mean()


def drop_condition(cond: torch.Tensor, null_value, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return `cond` with a share p of rows replaced by `null_value`, so one network also learns the unconditional model
    (classifier-free guidance training, Ho & Salimans 2022)."""
    drop = (torch.rand(cond.shape[0], generator=generator) < p).to(cond.device)  # drawn on the CPU, like the noise
    null = torch.as_tensor(null_value, device=cond.device, dtype=cond.dtype).expand_as(cond)
    return torch.where(drop.reshape(-1, *([1] * (cond.ndim - 1))), null, cond)


def guided_output(model: nn.Module, x_t: torch.Tensor, t: torch.Tensor, cond, null_cond, guidance: float) -> torch.Tensor:
    """Return the classifier-free guided output: uncond + w (cond - uncond) (eq. 6 of Ho & Salimans 2022, w = 1 + their w)."""
    if cond is None or guidance == 1.0:
        return model(x_t, t, cond)
    both = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, null_cond]))
    out_cond, out_uncond = both.chunk(2)
    return out_uncond + guidance * (out_cond - out_uncond)


@dataclass
class SamplerConfig:
    """How to sample: steps, guidance, what the model predicts, stochasticity and clipping."""

    n_steps: int = 50
    guidance: float = 1.0  # classifier-free guidance w (1 = plain conditional model)
    prediction: str = "eps"  # what the model outputs: "eps", "v" or "x0"
    eta: float = 0.0  # 0: deterministic DDIM; 1 with n_steps = all steps: ancestral DDPM
    clip: float | None = None  # clamp the predicted x0 each step, e.g. 1.0 for data in [-1, 1]
    # Guide only at steps t with lo <= t / (T - 1) <= hi, elsewhere w = 1 (Kynkaanniemi et al. 2024: guidance at the
    # noisiest steps mostly narrows the variety). (0, 1): every step.
    guidance_interval: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        lo, hi = self.guidance_interval
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"guidance_interval must be (lo, hi) with 0 <= lo <= hi <= 1, got {self.guidance_interval}")


def ddim_steps(start: int, n_steps: int) -> list[tuple[int, int]]:
    """Return the (step, prev) pairs a DDIM sampler visits: n_steps integer steps evenly spaced from `start` down to 0,
    each with the step it moves to (-1 after the last one: the clean image)."""
    steps = torch.linspace(start, 0, n_steps).round().long().tolist()
    return list(zip(steps, steps[1:] + [-1]))


def ddim_update(model: nn.Module, schedule: NoiseSchedule, x: torch.Tensor, step: int, prev: int,
                sampler: SamplerConfig, cond=None, null_cond=None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x at step `prev`, the predicted x0) from x at `step`: one DDIM step (eq. 12 of Song et al. 2021) with
    the sampler's guidance (in its interval), parameterisation, clipping and eta. prev = -1 means the clean image (alpha_bar = 1)."""
    device = x.device
    t = torch.full((x.shape[0],), step, device=device, dtype=torch.long)
    lo, hi = sampler.guidance_interval
    guidance = sampler.guidance if lo <= step / (schedule.n_steps - 1) <= hi else 1.0
    out = guided_output(model, x, t, cond, null_cond, guidance)
    x0, eps = schedule.to_x0_eps(x, out, t, sampler.prediction)
    if sampler.clip is not None:
        x0 = x0.clamp(-sampler.clip, sampler.clip)
        eps = schedule.to_x0_eps(x, x0, t, "x0")[1]
    ab, ab_prev = schedule.level(step), schedule.level(prev)
    sigma = sampler.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp_min(0).sqrt()
    noise = torch.randn(x.shape, generator=generator).to(device) if sampler.eta > 0 else 0.0
    return ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * eps + sigma * noise, x0


@torch.no_grad()
def ddim_sample(model: nn.Module, schedule: NoiseSchedule, shape: tuple, sampler: SamplerConfig = SamplerConfig(),
                cond=None, null_cond=None, generator: torch.Generator | None = None, return_path: bool = False):
    """Return samples (B, C, H, W) drawn with DDIM in sampler.n_steps steps (eq. 12 of Song et al. 2021), on the
    schedule's device; with return_path, also the list of predicted x0 at each step.

    Noise is drawn from `generator` on the CPU, so a seed gives the same samples on any device.
    """
    device = schedule.alpha_bar.device
    if not 1 <= sampler.n_steps <= schedule.n_steps:
        raise ValueError(f"n_steps must be in 1..{schedule.n_steps}, got {sampler.n_steps}")
    model.eval()
    x = torch.randn(shape, generator=generator).to(device)  # noise drawn on the CPU: same start on any device
    path = []
    for step, prev in ddim_steps(schedule.n_steps - 1, sampler.n_steps):
        x, x0 = ddim_update(model, schedule, x, step, prev, sampler, cond, null_cond, generator)
        if return_path:
            path.append(x0.cpu())
    return (x, path) if return_path else x


def ddpm_sample(model: nn.Module, schedule: NoiseSchedule, shape: tuple, sampler: SamplerConfig = SamplerConfig(),
                **kwargs) -> torch.Tensor:
    """Return samples drawn with ancestral DDPM sampling over every step (Ho et al. 2020, alg. 2)."""
    sampler = dataclasses.replace(sampler, n_steps=schedule.n_steps, eta=1.0)
    return ddim_sample(model, schedule, shape, sampler, **kwargs)


@dataclass
class DiffusionConfig:
    """Everything that changes a trained diffusion model: the network, the schedule and the training recipe."""

    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    prediction: str = "v"  # what the network outputs: "eps", "v" or "x0"
    weighting: str = "min_snr"  # loss weighting over steps: "none" or "min_snr"
    snr_gamma: float = 5.0
    p_uncond: float = 0.1  # share of examples trained without their condition (for guidance)
    train_steps: int = 2000  # optimisation steps: fixed, so a run is reproducible however fast the machine
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 100  # steps of linear learning-rate warmup; then a cosine decay to zero
    ema_decay: float = 0.995
    channels_last: bool = False  # memory layout of the images and the network (faster convolutions on some CPUs)
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()  # keep a copy of the EMA weights after these steps, to judge shorter training


def null_condition(cfg: UNetConfig, cond: torch.Tensor) -> torch.Tensor:
    """Return the "no condition" input matching `cond`: label n_classes for classes, zeros for vectors."""
    if cfg.n_classes:
        return torch.full_like(cond, cfg.n_classes)
    return torch.zeros_like(cond)


def train_diffusion(cfg: DiffusionConfig, x: torch.Tensor, cond: torch.Tensor | None = None,
                    device: torch.device | str = "cpu", progress: bool = True, live=None) -> tuple[UNet, dict]:
    """Train a U-Net denoiser on data x (N, C, H, W) with optional conditions (N,) or (N, D).

    Returns (the EMA model in eval mode, history) where history holds the mean loss of every
    50 steps ("loss", "step") and the wall-clock "seconds", and with cfg.snapshot_steps, "snapshots": {step: the EMA
    model's state dict after that step} (load one with `UNet(cfg.unet).load_state_dict`). `live` may be a
    course.plot.LiveLoss.
    """
    if any(not 1 <= s <= cfg.train_steps for s in cfg.snapshot_steps):
        raise ValueError(f"snapshot_steps must lie in 1..train_steps={cfg.train_steps}, got {cfg.snapshot_steps}")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    memory = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = UNet(cfg.unet).to(device, memory_format=memory)
    schedule = NoiseSchedule(cfg.schedule).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup_then_cosine = lambda step: min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * step / cfg.train_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_then_cosine)
    ema = EMA(model, cfg.ema_decay)
    model.train()

    def step(i: int) -> dict[str, float]:
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g)
        xb = x[idx].to(device, memory_format=memory)
        cb = None
        if cond is not None:
            cb = drop_condition(cond[idx], null_condition(cfg.unet, cond[:1])[0], cfg.p_uncond, g).to(device)
        loss = diffusion_loss(model, schedule, xb, cb, cfg.prediction, g, cfg.weighting, cfg.snr_gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema.decay = min(cfg.ema_decay, (1 + i) / (10 + i))  # warm-up: early weights are soon forgotten
        ema.update(model)
        if i + 1 in cfg.snapshot_steps:
            snapshots[i + 1] = {k: v.detach().to("cpu", copy=True) for k, v in ema.model.state_dict().items()}
        return {"loss": loss.item()}

    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    history = train_steps(step, cfg.train_steps, log_every=50, live=live, progress=progress)
    if cfg.snapshot_steps:
        history["snapshots"] = snapshots
    return ema.model.to(memory_format=torch.contiguous_format).eval(), history
