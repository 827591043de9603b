"""The course's one training loop, `train_steps`, and what is built on it: train_epoch, evaluate, fit, predict.

Taught in 02_neural_network. No callbacks: read `fit` top to bottom to see everything it does.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course.validate import require_finite

_NAN_HINT = "lower the learning rate (try 3x lower), or check the inputs for NaN and the loss for a log of 0"


class TensorLoader:
    """Iterate over mini-batches of in-memory tensors (no worker processes: fastest on a laptop CPU).

    `TensorLoader(x, y, batch_size=128, shuffle=True, seed=0)` yields `(xb, yb)` on `device`.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int = 128, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str | None = None, drop_last: bool = False):
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        n = len(tensors[0])
        for t in tensors:
            if len(t) != n:
                raise ValueError(f"all tensors need the same length, got {[len(t) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.device, self.drop_last = device, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            batch = tuple(t[idx] for t in self.tensors)
            if self.device is not None:
                batch = tuple(t.to(self.device, non_blocking=True) for t in batch)
            yield batch if len(batch) > 1 else batch[0]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Return the share of rows whose largest logit is at the true class."""
    if logits.ndim != 2 or len(logits) != len(y):
        raise ValueError(f"accuracy needs logits (N, n_classes) and labels (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    return (logits.argmax(1) == y).float().mean().item()


def train_steps(step: Callable[[int], dict[str, float]], n_steps: int, log_every: int = 50, live=None,
                progress: bool = True, desc: str = "train") -> dict[str, list[float]]:
    """Call `step(i)` for i = 0 .. n_steps-1; return a history of floats: 'step', 'seconds' and the mean of
    every value `step` returned over each window of `log_every` steps (over the steps that returned it).

    The one loop around the explicit step functions of the generative models (autoencoder, sequence
    model, GAN, diffusion): `step` does the work of one update and returns its losses as floats.
    Every value is checked for NaN/inf; `live` (a course.plot.LiveLoss) is updated once per window.
    """
    history: dict[str, list[float]] = {"step": [], "seconds": []}
    window: dict[str, list[float]] = {}  # the values of each key in this window (a key may skip some steps)
    start = time.perf_counter()
    for i in tqdm(range(n_steps), desc=desc, disable=not progress, mininterval=1.0):
        for key, value in step(i).items():
            window.setdefault(key, []).append(require_finite(float(value), key, _NAN_HINT))
        if (i + 1) % log_every == 0 or i + 1 == n_steps:
            means = {key: sum(values) / len(values) for key, values in window.items()}
            history["step"].append(i + 1)
            history["seconds"].append(time.perf_counter() - start)
            for key, value in means.items():
                history.setdefault(key, []).append(value)
            if live is not None:
                live.update(i + 1, **means)
            window = {}
    return history


def train_epoch(model: nn.Module, dl: TensorLoader, loss_fn: Callable, opt: torch.optim.Optimizer,
                sched=None, progress: bool = False) -> float:
    """Run one pass over `dl`, updating the model; return the mean training loss (of the batches' losses).

    The step is written out here; the loop around it is `train_steps`, as for every model in the course.
    """
    model.train()
    batches = iter(dl)

    def step(i: int) -> dict[str, float]:
        xb, yb = next(batches)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return {"training loss": loss.item()}

    return train_steps(step, len(dl), log_every=len(dl), progress=progress)["training loss"][0]


@torch.no_grad()
def evaluate(model: nn.Module, dl: TensorLoader, loss_fn: Callable, metric: Callable | None = accuracy) -> tuple[float, float | None]:
    """Return the mean loss and the mean `metric` (None if no metric) over `dl`, without updating the model."""
    model.eval()
    total_loss, total_metric, count = 0.0, 0.0, 0
    for xb, yb in dl:
        y_hat = model(xb)
        total_loss += loss_fn(y_hat, yb).item() * len(xb)
        if metric is not None:
            total_metric += metric(y_hat, yb) * len(xb)
        count += len(xb)
    return total_loss / count, (total_metric / count if metric is not None else None)


def fit(model: nn.Module, dl_train: TensorLoader, dl_valid: TensorLoader | None, loss_fn: Callable,
        opt: torch.optim.Optimizer, n_epochs: int, sched=None, metric: Callable | None = accuracy,
        progress: bool = True) -> dict[str, list[float]]:
    """Train for `n_epochs`; return a history of floats: train_loss, valid_loss, valid_metric, seconds."""
    history: dict[str, list[float]] = {"train_loss": [], "valid_loss": [], "valid_metric": [], "seconds": []}
    start = time.perf_counter()
    for epoch in tqdm(range(n_epochs), desc="epochs", disable=not progress):
        history["train_loss"].append(train_epoch(model, dl_train, loss_fn, opt, sched))
        if dl_valid is not None:
            valid_loss, valid_metric = evaluate(model, dl_valid, loss_fn, metric)
            history["valid_loss"].append(valid_loss)
            if valid_metric is not None:
                history["valid_metric"].append(valid_metric)
        history["seconds"].append(time.perf_counter() - start)
    return history


def train_classifier(model: nn.Module, cfg, x: torch.Tensor, y: torch.Tensor, device: torch.device | str = "cpu",
                     valid: tuple[torch.Tensor, torch.Tensor] | None = None, augment=None, progress: bool = True) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train a classifier on (x, y) with AdamW and a one-cycle schedule peaking at cfg.lr; return (model, history).

    The one recipe of lessons 02-04: `cfg` gives batch_size, lr, weight_decay, n_epochs and seed; `valid` is an
    optional (x, y) scored after every epoch; `augment` an optional course.data.augment.AugmentConfig.
    """
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(device, memory_format=torch.channels_last)  # ~1.8x faster convolutions on a CPU
    else:
        model = model.to(device)
    dl_train = TensorLoader(x, y, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, device=device)
    if augment is not None:
        from course.data.augment import AugmentLoader

        dl_train = AugmentLoader(dl_train, augment, seed=cfg.seed)
    dl_valid = TensorLoader(*valid, batch_size=1000, device=device) if valid is not None else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)  # = Adam when it is 0
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.n_epochs * len(dl_train))
    return model, fit(model, dl_train, dl_valid, F.cross_entropy, opt, cfg.n_epochs, sched=sched, progress=progress)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512, device: torch.device | str | None = None,
            fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Return the model's outputs for every row of `x` (or `fn(xb)`, e.g. model.encode), computed in batches
    in eval mode without gradients, on the CPU.

    The one batched prediction loop: every "run a trained network over many images" goes through it.
    """
    model.eval()
    device = device or next(model.parameters()).device
    fn = fn or model
    return torch.cat([fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
