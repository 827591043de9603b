"""Compute and energy: count a training step's floating-point operations, fit how cost grows, turn time into energy.

Taught in 10_limits. FLOPs are counted by PyTorch's `torch.utils.flop_counter.FlopCounterMode`, which
adds up the operations of every matrix multiply and convolution it sees (forward and backward), the
operations that dominate a network's cost. Published figures for real systems are kept here with their
sources, so that a chart never shows a number without one.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# One A100's peak dense bf16 throughput (NVIDIA's A100 datasheet, 2020), FLOP/s.
A100_PEAK_FLOPS = 312e12
# Share of peak a large training run sustains; the assumption behind Epoch AI's estimate for DALL-E 2 below.
ASSUMED_UTILISATION = 0.3

# Published figures, with where they come from. Energy in kWh, compute in FLOP.
PUBLISHED = {
    "Stable Diffusion v1": {
        "gpu_hours": 150_000,  # model card (Rombach et al. / CompVis 2022): 150,000 A100 PCIe 40GB hours
        "kg_co2eq": 11_250,  # same model card, via the ML CO2 impact calculator (Lacoste et al. 2019)
        "kwh": 150_000 * 0.25,  # 250 W per A100 PCIe: the power that calculator assumes, 37,500 kWh
        "flop": 150_000 * 3600 * A100_PEAK_FLOPS * ASSUMED_UTILISATION,  # our estimate, same method as Epoch AI's
    },
    "DALL-E 2": {
        "flop": 3.4e23,  # Epoch AI's estimate (2024): A100-days reported by others at 30 % utilisation; uncertain
    },
    "1,000 images, average text-to-image model": {
        "kwh": 2.907,  # Luccioni et al. 2023 ("Power hungry processing"), mean over the image generation models tested
    },
}


def step_flops(step: Callable[[], object]) -> int:
    """Return the FLOPs that one call of `step()` performs (e.g. a forward pass, loss and backward pass)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def training_step_flops(model: torch.nn.Module, loss_of: Callable[[torch.nn.Module], torch.Tensor]) -> int:
    """Return the FLOPs of one training step: `loss_of(model)` forward, then its backward pass (the optimiser's
    element-wise update is small beside them and not counted). The model's gradients are cleared afterwards."""
    def step():
        loss_of(model).backward()

    flops = step_flops(step)
    model.zero_grad(set_to_none=True)
    return flops


def seconds_per_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Return the fastest of `repeat` timed calls of fn(), in seconds, after `warmup` untimed calls (the minimum is
    the least disturbed by other programs on the machine)."""
    for _ in range(warmup):
        fn()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def growth_exponent(sizes, costs) -> float:
    """Return the slope k of log(cost) against log(size) (least squares): cost grows like size^k."""
    x = torch.log(torch.as_tensor(sizes, dtype=torch.float64))
    y = torch.log(torch.as_tensor(costs, dtype=torch.float64))
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x * x).sum())


def energy_kwh(seconds: float, watts: float) -> float:
    """Return the energy in kWh of running `seconds` at `watts`."""
    return seconds * watts / 3.6e6
