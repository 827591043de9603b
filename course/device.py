"""Device, randomness and the settings that grow on a GPU: one place for each.

Taught in 00_start_here.
"""
from __future__ import annotations

import os
import platform
import random
from contextlib import contextmanager

import numpy as np
import torch

_SUPPORTED = ("cuda", "mps", "cpu")
_SCALES = (None, "cpu", "gpu")  # the values of COURSE_SCALE (None: unset, follow the device)
# PyTorch's own number of CPU threads (OMP_NUM_THREADS, else every core), read before any lesson changes it
STARTUP_THREADS = torch.get_num_threads()


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: cuda, then mps, then cpu (or `prefer` if it is available).

    Set the environment variable COURSE_DEVICE=cpu to force the CPU everywhere.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer is not None:
        kind = str(prefer).split(":")[0]
        if kind not in _SUPPORTED:
            raise ValueError(
                f"Unknown device {prefer!r}: use one of {', '.join(_SUPPORTED)} (or leave it out to pick automatically)."
            )
        if not _available(kind):
            raise RuntimeError(
                f"Device {prefer!r} is not available on this machine; available: {', '.join(available_devices())}. "
                "Call pick_device() with no argument to use the best one."
            )
        return torch.device(prefer)
    for kind in _SUPPORTED:
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu"


def available_devices() -> list[str]:
    """Return the names of the device kinds this machine can use, best first."""
    return [kind for kind in _SUPPORTED if _available(kind)]


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and GPU); return a CPU `torch.Generator` seeded the same."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def on_gpu(device: torch.device | str | None = None) -> bool:
    """Return True when `device` (default: the picked one) is a GPU (cuda or mps)."""
    device = torch.device(device) if device is not None else pick_device()
    return device.type in ("cuda", "mps")


def by_device(cpu, gpu, device: torch.device | str | None = None):
    """Return `gpu` on a GPU and `cpu` otherwise: the one place where settings grow on a GPU.

    Notebooks write `n_epochs=by_device(cpu=3, gpu=12)`; a learner on Colab then gets the bigger
    setting without editing a cell. The environment variable COURSE_SCALE overrides the device:
    COURSE_SCALE=cpu forces the CPU settings everywhere, COURSE_SCALE=gpu the GPU settings on any
    machine (tests/test_gpu_settings.py runs the GPU-sized models on a CPU this way).
    """
    scale = os.environ.get("COURSE_SCALE") or None
    if scale not in _SCALES:
        raise ValueError(f"COURSE_SCALE must be 'cpu' or 'gpu' (or unset, to follow the device), got {scale!r}")
    if scale is not None:
        return cpu if scale == "cpu" else gpu
    return gpu if on_gpu(device) else cpu


def set_threads(n: int | None = None) -> int:
    """Set PyTorch's CPU threads (default: all cores) and return the number in use."""
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be at least 1, got {n}")
        torch.set_num_threads(n)
    return torch.get_num_threads()


@contextmanager
def cpu_threads(n: int):
    """Run the `with` block on n CPU threads, then restore the previous number.

    Float sums come out in a different order on a different number of threads, so a model trained
    on one thread has (slightly) different weights from one trained on two: code that must give
    the same weights wherever it runs fixes the count with this.
    """
    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)



def small_model_threads(device: torch.device | str):
    """Return a `with` context that runs its block on one CPU thread when `device` is the CPU, and on the threads in use
    on a GPU: small networks (GANs, autoencoders) train fastest on one thread, and with the same weights wherever
    they train (see cpu_threads)."""
    return cpu_threads(torch.get_num_threads() if on_gpu(device) else 1)


def big_model_threads(device: torch.device | str):
    """Return a `with` context that runs its block on PyTorch's own number of CPU threads (STARTUP_THREADS, every core)
    when `device` is the CPU, and on the threads in use on a GPU: for a U-Net that a lesson trains on every core, so
    that a later lesson on one thread (lesson 10) trains the same weights from its recipe (see cpu_threads)."""
    return cpu_threads(torch.get_num_threads() if on_gpu(device) else STARTUP_THREADS)


def environment_report(device: torch.device | None = None) -> dict[str, str]:
    """Return the versions, device and threads a lesson runs with, as strings."""
    import matplotlib

    device = device or pick_device()
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "device": str(device),
        "cpu threads": str(torch.get_num_threads()),
        "cores": str(os.cpu_count()),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
