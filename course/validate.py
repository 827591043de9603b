"""Clear messages for bad input: wrong shapes, wrong dtypes, NaNs."""
from __future__ import annotations

import torch


def require_images(
    x, name: str = "x", channels: int | None = None, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """Return `x` unchanged if it is a float image batch (B, C, H, W); raise a ValueError or TypeError saying what to fix."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (B, C, H, W), got {type(x).__name__}; "
                        "convert with torch.as_tensor(...).float()")
    if not x.is_floating_point():
        raise TypeError(f"{name} has dtype {x.dtype}, but images must be floats in [0, 1]: "
                        f"use {name}.float() / 255 for 0..255 integers")
    if x.ndim != 4:
        hint = f" Add a batch dimension with {name}[None]." if x.ndim == 3 else (
            f" Add batch and channel dimensions with {name}[None, None]." if x.ndim == 2 else "")
        raise ValueError(f"{name} must have 4 dimensions (B, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if channels is not None and x.shape[1] != channels:
        hint = " (channels-last? use x.permute(0, 3, 1, 2))" if x.shape[-1] == channels else ""
        raise ValueError(f"{name} must have {channels} channel(s) in dim 1, got shape {tuple(x.shape)}{hint}")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[-2:]) != hw:
            raise ValueError(f"{name} must be {hw[0]}x{hw[1]} pixels, got {tuple(x.shape[-2:])} (shape {tuple(x.shape)})")
    return x


def require_finite(value: float, what: str = "loss", hint: str = "lower the learning rate or check the inputs for NaN") -> float:
    """Return `value` if it is finite; raise FloatingPointError naming `what` and a fix otherwise."""
    if value != value or value in (float("inf"), float("-inf")):
        raise FloatingPointError(f"{what} became {value}: {hint}.")
    return value
