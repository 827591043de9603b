"""Convolution and pooling from scratch: explicit loops, im2col (unfold) as one matrix product, max-pool.

Taught in 04_cnn. The tests check every function here against PyTorch's own (F.conv2d, F.unfold,
F.max_pool2d) on small inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def conv_output_size(n: int, kernel_size: int, padding: int = 0, stride: int = 1) -> int:
    """Return the output length of a convolution or pooling along one axis: floor((n + 2p - k) / s) + 1."""
    if kernel_size > n + 2 * padding:
        raise ValueError(f"kernel {kernel_size} is larger than the padded input {n} + 2*{padding}")
    return (n + 2 * padding - kernel_size) // stride + 1


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Return the convolution (cross-correlation, as in PyTorch) of x (B, C_in, H, W) with weight (C_out, C_in, k, k).

    One output number at a time: slow, but every multiplication is in plain sight. Use tiny images.
    """
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    x = F.pad(x, (padding, padding, padding, padding))  # zeros around the border
    h_out, w_out = conv_output_size(h, k, padding, stride), conv_output_size(w, k, padding, stride)
    out = torch.zeros(b, c_out, h_out, w_out, dtype=x.dtype)
    for n in range(b):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    patch = x[n, :, i * stride : i * stride + k, j * stride : j * stride + k]  # (C_in, k, k)
                    out[n, o, i, j] = (patch * weight[o]).sum()
            if bias is not None:
                out[n, o] += bias[o]
    return out


def unfold(x: torch.Tensor, kernel_size: int, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Return every k x k patch of x (B, C, H, W) as a column: (B, C*k*k, L) with L = H_out * W_out, like F.unfold.

    "im2col": one strided slice per kernel offset (k*k slices), not one per output position.
    """
    b, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, kernel_size, padding, stride), conv_output_size(w, kernel_size, padding, stride)
    x = F.pad(x, (padding, padding, padding, padding))
    cols = []
    for di in range(kernel_size):
        for dj in range(kernel_size):
            # the pixel at offset (di, dj) of every patch: (B, C, H_out, W_out)
            cols.append(x[:, :, di : di + stride * (h_out - 1) + 1 : stride, dj : dj + stride * (w_out - 1) + 1 : stride])
    cols = torch.stack(cols, dim=2)  # (B, C, k*k, H_out, W_out)
    return cols.reshape(b, c * kernel_size * kernel_size, h_out * w_out)  # (B, C*k*k, L)


def conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Return the convolution of x (B, C_in, H, W) with weight (C_out, C_in, k, k) as one matrix product of patches."""
    b, _, h, w = x.shape
    c_out, _, k, _ = weight.shape
    cols = unfold(x, k, stride, padding)  # (B, C_in*k*k, L)
    out = weight.reshape(c_out, -1) @ cols  # (C_out, C_in*k*k) @ (B, C_in*k*k, L) -> (B, C_out, L)
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(b, c_out, conv_output_size(h, k, padding, stride), conv_output_size(w, k, padding, stride))


def maxpool2d(x: torch.Tensor, kernel_size: int = 2, stride: int | None = None) -> torch.Tensor:
    """Return the largest value of each k x k window of x (B, C, H, W), like F.max_pool2d (stride defaults to k)."""
    stride = stride or kernel_size
    b, c, h, w = x.shape
    cols = unfold(x.reshape(b * c, 1, h, w), kernel_size, stride)  # (B*C, k*k, L): each channel on its own
    out = cols.max(dim=1).values  # (B*C, L)
    return out.reshape(b, c, conv_output_size(h, kernel_size, 0, stride), conv_output_size(w, kernel_size, 0, stride))


def receptive_field(layers: list[tuple[int, int]]) -> list[int]:
    """Return the receptive field (in input pixels) after each layer of a stack of (kernel_size, stride) layers.

    Each layer widens it by (k - 1) times the product of the strides before it.
    """
    fields, size, jump = [], 1, 1
    for kernel_size, stride in layers:
        size += (kernel_size - 1) * jump
        jump *= stride
        fields.append(size)
    return fields


def shift_images(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Return images (B, C, H, W) moved dx pixels right and dy pixels down, filling the border with zeros."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    src_y, dst_y = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
    src_x, dst_x = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out
