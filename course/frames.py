"""A ConvLSTM frame generator: read k frames, generate the next ones; its training step, free rollout and metrics.

Taught in 06_lstm. Frames are (B, T, C, H, W) floats in [0, 1]; the model predicts the next frame as
a change of the current one (motion kernels), trained with per-pixel binary cross-entropy and a
curriculum from teacher forcing to feeding its own outputs (scheduled sampling, Bengio et al. 2015).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.data.image_dataset import to_signed
from course.lstm import ConvLSTMCell
from course.train import TensorLoader, train_steps


@dataclass
class FrameGeneratorConfig:
    """The frame generator, its data and its training recipe."""

    size: int = 32  # frame side in pixels
    channels: int = 1
    n_objects: int = 1
    patch: int = 14  # side of the moving digit's box
    n_context: int = 5  # frames the model reads
    n_future: int = 5  # frames it generates
    stages: int = 2  # stride-2 stages: the ConvLSTM runs at 1/2**stages of the frame side
    features: int = 16  # channels of the encoder (and decoder; half as many at full resolution)
    hidden: int = 16  # channels of the ConvLSTM state
    kernel_size: int = 3
    loss: str = "bce"  # per-pixel binary cross-entropy, or "mse" (the naive choice)
    output: str = "kernel"  # "kernel": move the current frame (predict a change); "frame": draw it anew
    motion_kernel: int = 7  # K: a pixel can move up to K // 2 pixels per frame
    teacher_forcing_steps: int = 100  # steps that only see true frames
    ramp_steps: int = 100  # then the chance of feeding own outputs grows linearly to 1
    n_steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    n_train: int = 4000
    seed: int = 0


class FrameGenerator(nn.Module):
    """Encoder (stride-2 convolutions) -> ConvLSTM at 1/2**stages of the side -> the next frame.

    `output="frame"` decodes the whole next frame from the state (transposed convolutions, a sigmoid
    per pixel). `output="kernel"` predicts a change instead: one K x K kernel (softmax weights) per
    sequence and step, read from the state, that moves the *current* frame (CDNA, Finn et al. 2016):
    the digit is shifted, not redrawn. `step(frame, state)` reads one frame (B, C, H, W) and returns
    (next frame (B, C, H, W) in [0, 1], state).
    """

    def __init__(self, cfg: FrameGeneratorConfig):
        super().__init__()
        if cfg.output not in ("frame", "kernel"):
            raise ValueError(f"output must be 'frame' or 'kernel', got {cfg.output!r}")
        if cfg.size % 2 ** cfg.stages:
            raise ValueError(f"size must be a multiple of {2 ** cfg.stages} ({cfg.stages} stride-2 stages), got {cfg.size}")
        self.cfg = cfg
        f, c, side = cfg.features, cfg.channels, cfg.size // 2 ** cfg.stages
        encoder = [nn.Conv2d(c, f // 2, 3, padding=1), nn.ReLU()]  # (B, f/2, H, W)
        for i in range(cfg.stages):  # each halves the side: (B, f, side, side) at the end
            encoder += [nn.Conv2d(f // 2 if i == 0 else f, f, 4, stride=2, padding=1), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder)
        self.cell = ConvLSTMCell(f, cfg.hidden, cfg.kernel_size)  # state (B, hidden, side, side)
        if cfg.output == "frame":
            decoder = []
            for i in range(cfg.stages):  # each doubles the side: (B, f/2, H, W) at the end
                last = i == cfg.stages - 1
                decoder += [nn.ConvTranspose2d(cfg.hidden if i == 0 else f, f // 2 if last else f, 4, stride=2, padding=1),
                            nn.ReLU()]
            self.decoder = nn.Sequential(*decoder, nn.Conv2d(f // 2, c, 3, padding=1))  # (B, C, H, W) logits
        else:
            k2 = cfg.motion_kernel ** 2
            self.to_kernel = nn.Linear(cfg.hidden * side * side, k2)  # (B, K*K) kernel logits
            with torch.no_grad():  # start near "copy the current frame": the centre tap gets most weight
                self.to_kernel.bias.zero_()
                self.to_kernel.bias[k2 // 2] = 3.0

    def init_state(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return zero ConvLSTM states (h, c), each (B, hidden, H/s, W/s) with s = 2**stages, for frames like `frame`."""
        b, _, h, w = frame.shape
        s = 2 ** self.cfg.stages
        zeros = frame.new_zeros(b, self.cfg.hidden, h // s, w // s)
        return zeros, zeros

    def step(self, frame: torch.Tensor, state=None, most_likely: bool = False):
        """Return (the next frame (B, C, H, W) in [0, 1], new state) after reading `frame` (B, C, H, W).

        With `most_likely`, a kernel model moves the frame by its single most likely offset (the
        kernel's largest weight) instead of the weighted average of all offsets: a sharp frame.
        """
        want = (self.cfg.channels, self.cfg.size, self.cfg.size)
        if frame.ndim != 4 or tuple(frame.shape[1:]) != want:
            raise ValueError(f"step expects one frame (B, {', '.join(map(str, want))}), got shape {tuple(frame.shape)}; "
                             "for a sequence (B, T, C, H, W) pass frames[:, t]")
        state = state if state is not None else self.init_state(frame)
        state = self.cell(self.encoder(to_signed(frame)), state)  # (B, hidden, side, side) twice
        if self.cfg.output == "frame":
            return torch.sigmoid(self.decoder(state[0])), state
        kernel = self.to_kernel(state[0].flatten(1)).softmax(dim=1)  # (B, K*K), weights that sum to 1
        if most_likely:
            kernel = F.one_hot(kernel.argmax(dim=1), kernel.shape[1]).to(frame.dtype)  # (B, K*K), one tap
        return move_by_kernel(frame, kernel), state

    def forward(self, frames: torch.Tensor, p_own: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return predictions (B, T-1, C, H, W) in [0, 1] of frames[:, 1:] from frames (B, T, C, H, W).

        The first `n_context` inputs are always true frames; after that each sequence is fed the
        model's own previous output with probability `p_own` (scheduled sampling), else the true frame.
        """
        if frames.ndim != 5:
            raise ValueError(f"frames must be (B, T, C, H, W), got shape {tuple(frames.shape)}")
        state, preds, previous = None, [], None
        for t in range(frames.shape[1] - 1):
            frame = frames[:, t]  # (B, C, H, W)
            if t >= self.cfg.n_context and p_own > 0:
                use_own = torch.rand(len(frame), generator=generator) < p_own  # (B,) from the CPU generator
                frame = torch.where(use_own.to(frame.device)[:, None, None, None], previous, frame)  # not detached
            previous, state = self.step(frame, state)
            preds.append(previous)
        return torch.stack(preds, dim=1)  # (B, T-1, C, H, W)


def move_by_kernel(frame: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Return frames (B, C, H, W) moved by one kernel per sequence (B, K*K): a weighted sum of shifted copies.

    Weight k of the kernel (row-major, centre = no move) pulls each pixel from offset
    (k // K - K // 2, k % K - K // 2); a one-hot kernel is an exact shift, a spread one blurs.
    """
    b, c, h, w = frame.shape
    k = int(round(kernel.shape[1] ** 0.5))
    if k * k != kernel.shape[1]:
        raise ValueError(f"kernel must be (B, K*K) for an odd K, got {tuple(kernel.shape)}")
    patches = F.unfold(frame, k, padding=k // 2).view(b, c, k * k, h, w)  # (B, C, K*K, H, W): shifted copies
    return (patches * kernel[:, None, :, None, None]).sum(dim=2)


@torch.no_grad()
def rollout(model: FrameGenerator, context: torch.Tensor, n_future: int, most_likely: bool = False) -> torch.Tensor:
    """Return `n_future` generated frames (B, n_future, C, H, W) in [0, 1] after reading `context` (B, k, C, H, W).

    Free rollout: after the context, the model only ever sees its own outputs. It is given no
    future frame, so no ground truth can leak in. `most_likely` commits to one move per step
    (see FrameGenerator.step) instead of averaging the possible moves.
    """
    if context.ndim != 5:
        raise ValueError(f"context must be frames (B, k, C, H, W), got shape {tuple(context.shape)}")
    model.eval()
    state = None
    for t in range(context.shape[1]):
        frame, state = model.step(context[:, t], state, most_likely)  # (B, C, H, W): after the last, the first new frame
    frames = [frame]
    for _ in range(n_future - 1):
        frame, state = model.step(frame, state, most_likely)  # feed the output back in
        frames.append(frame)
    return torch.stack(frames, dim=1)  # (B, n_future, C, H, W)


def sampling_probability(step: int, teacher_forcing_steps: int, ramp_steps: int) -> float:
    """Return the chance of feeding the model its own output at training `step`: 0, then a linear ramp to 1."""
    if ramp_steps <= 0:
        return float(step >= teacher_forcing_steps)
    return min(1.0, max(0.0, (step - teacher_forcing_steps) / ramp_steps))


def frame_loss(pred: torch.Tensor, target: torch.Tensor, loss: str = "bce") -> torch.Tensor:
    """Return the mean per-pixel loss of predicted frames against target frames, both in [0, 1]."""
    if loss == "bce":
        return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)
    if loss == "mse":
        return F.mse_loss(pred, target)
    raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")


def train_step(model: FrameGenerator, opt: torch.optim.Optimizer, xb: torch.Tensor, p_own: float,
               generator: torch.Generator | None = None) -> dict[str, float]:
    """Do one update on sequences xb (B, T, C, H, W); return the loss and the chance of own outputs used."""
    model.train()
    pred = model(xb, p_own, generator)  # (B, T-1, C, H, W)
    loss = frame_loss(pred, xb[:, 1:], model.cfg.loss)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # a recurrent net's gradient can spike
    opt.step()
    return {"loss": loss.item(), "p_own": p_own}


def train_frame_generator(cfg: FrameGeneratorConfig, frames: torch.Tensor, device: torch.device | str = "cpu",
                          live=None, progress: bool = True) -> tuple[FrameGenerator, dict]:
    """Train a FrameGenerator on sequences (N, T, C, H, W) with T >= n_context + n_future; return (model, history)."""
    if frames.ndim != 5 or frames.shape[1] < cfg.n_context + cfg.n_future:
        raise ValueError(f"frames must be (N, T, C, H, W) with T >= {cfg.n_context + cfg.n_future}, got {tuple(frames.shape)}")
    torch.manual_seed(cfg.seed)
    model = FrameGenerator(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.n_steps, pct_start=0.1)
    dl = TensorLoader(frames, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, device=device, drop_last=True)
    batches, g = iter(dl), torch.Generator().manual_seed(cfg.seed)

    def step(i: int) -> dict[str, float]:
        nonlocal batches
        xb = next(batches, None)
        if xb is None:
            batches = iter(dl)
            xb = next(batches)
        p = sampling_probability(i, cfg.teacher_forcing_steps, cfg.ramp_steps)
        out = train_step(model, opt, xb[:, : cfg.n_context + cfg.n_future], p, g)
        sched.step()
        return out

    history = train_steps(step, cfg.n_steps, log_every=25, live=live, progress=progress, desc="frame generator")
    return model.eval(), history


def copy_last(context: torch.Tensor, n_future: int) -> torch.Tensor:
    """Return the copy-the-last-frame baseline: the last context frame repeated, (B, n_future, C, H, W)."""
    return context[:, -1:].expand(-1, n_future, *context.shape[2:])


def per_horizon_mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Return (T,) the mean squared error at each horizon step of frames (B, T, C, H, W)."""
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape, got {tuple(pred.shape)} and {tuple(true.shape)}")
    return (pred - true).pow(2).mean(dim=(0, 2, 3, 4))


def centre_of_mass(frames: torch.Tensor) -> torch.Tensor:
    """Return the brightness-weighted centre (..., 2) as (row, column) in pixels of frames (..., C, H, W)."""
    h, w = frames.shape[-2:]
    mass = frames.sum(dim=-3)  # (..., H, W): channels add up
    total = mass.sum(dim=(-2, -1)).clamp_min(1e-6)
    rows = (mass.sum(-1) * torch.arange(h, dtype=frames.dtype, device=frames.device)).sum(-1) / total
    cols = (mass.sum(-2) * torch.arange(w, dtype=frames.dtype, device=frames.device)).sum(-1) / total
    return torch.stack([rows, cols], dim=-1)


def position_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Return (T,) the mean distance in pixels between the centres of mass of predicted and true frames (B, T, C, H, W)."""
    return (centre_of_mass(pred) - centre_of_mass(true)).norm(dim=-1).mean(dim=0)


def digit_crops(frames: torch.Tensor, patch: int = 14, size: int = 28) -> torch.Tensor:
    """Return (N, C, size, size): a window around each frame's centre of mass, scaled to the judge's digit size.

    A digit drawn in a `patch` box fills 0.9 of it; glyph digits fill 22/28 of the image, so the
    window is patch * 0.9 * 28 / 22 pixels wide.
    """
    n, _, h, w = frames.shape
    window = patch * 0.9 * 28 / 22
    centre = centre_of_mass(frames)  # (N, 2) rows, columns
    theta = torch.zeros(n, 2, 3, dtype=frames.dtype, device=frames.device)
    theta[:, 0, 0], theta[:, 1, 1] = window / w, window / h
    theta[:, 0, 2] = (2 * centre[:, 1] + 1) / w - 1  # normalised x of the centre (align_corners=False)
    theta[:, 1, 2] = (2 * centre[:, 0] + 1) / h - 1
    grid = F.affine_grid(theta, [n, frames.shape[1], size, size], align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
