"""Image data sets as folders of files: `root/<class name>/<file>.png`, the layout most collections use.

Taught in 03_data. `save_image_folder` writes tensors out as PNG files; `load_image_folder` reads a
folder back into tensors, and lists the files it could not read instead of crashing on them.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from course.validate import require_images

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Return one image (C, H, W) in [0, 1] as a uint8 array (H, W) or (H, W, C) with values 0..255, as files store it."""
    arr = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C)


def save_image_folder(x: torch.Tensor, y: torch.Tensor, root: str, class_names: list[str], start: int = 0) -> list[str]:
    """Write images (N, C, H, W) in [0, 1] as PNG files root/<class name>/<index>.png; return their paths.

    `start` offsets the file numbers, so several calls can add to one folder.
    """
    require_images(x, "x")
    if len(x) != len(y):
        raise ValueError(f"got {len(x)} images but {len(y)} labels")
    for name in class_names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    paths = []
    for i, (img, label) in enumerate(zip(x, y.tolist())):
        path = os.path.join(root, class_names[label], f"{start + i:05d}.png")
        Image.fromarray(to_uint8(img)).save(path)
        paths.append(path)
    return paths


def read_image(path: str, channels: int = 1) -> torch.Tensor:
    """Return the image file at `path` as floats (channels, H, W) in [0, 1]; raises OSError if it cannot be decoded."""
    with Image.open(path) as img:
        img.load()  # decode now: a truncated or garbled file fails here, not later
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255
    t = torch.from_numpy(arr.copy())
    return t[None] if channels == 1 else t.permute(2, 0, 1)  # (H, W, C) -> (C, H, W)


class ImageFolder(NamedTuple):
    """What `load_image_folder` returns: images, labels, class names, the path of each image, and the unreadable files."""

    x: torch.Tensor  # (N, C, H, W) floats in [0, 1]
    y: torch.Tensor  # (N,) class indices
    class_names: list[str]
    paths: list[str]
    unreadable: list[str]


def load_image_folder(root: str, channels: int = 1, size: int | None = None) -> ImageFolder:
    """Return every image under root/<class name>/ as tensors, with labels from the folder names (sorted).

    Files that cannot be decoded are skipped and listed in `.unreadable`; `size` resizes every
    image to size x size (otherwise all images must share one size).
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no folder {root!r}: expected root/<class name>/<image files>")
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not class_names:
        raise ValueError(f"{root!r} has no class folders: put the images of each class in root/<class name>/")
    images, labels, paths, unreadable = [], [], [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            path = os.path.join(folder, file)
            if not file.lower().endswith(EXTENSIONS):
                continue
            try:
                img = read_image(path, channels)
            except (OSError, ValueError, SyntaxError):  # what PIL raises for files that are not images
                unreadable.append(path)
                continue
            if size is not None and tuple(img.shape[1:]) != (size, size):
                img = torch.nn.functional.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True)[0]
            images.append(img)
            labels.append(label)
            paths.append(path)
    shapes = {tuple(img.shape) for img in images}
    if len(shapes) > 1:
        raise ValueError(f"images of different sizes {sorted(shapes)[:3]}...: pass size= to resize them all")
    x = torch.stack(images) if images else torch.empty(0, channels, size or 0, size or 0)
    return ImageFolder(x, torch.tensor(labels, dtype=torch.long), class_names, paths, unreadable)
