"""Coloured shapes with attributes and an English caption for each image.

Taught in 00_start_here; the captions drive 09_text_to_image. `shape_junk` draws what is not an image of the data
set (grey, half-erased or doubled shapes), for the shapes judge to learn doubt (course.judge).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

ATTRIBUTES = {
    "shape": ["circle", "square", "triangle", "cross"],
    "colour": ["red", "green", "blue", "yellow", "purple"],
    "size": ["small", "large"],
    "position": ["top left", "top right", "bottom left", "bottom right", "centre"],
}
RGB = {
    "red": (0.95, 0.15, 0.15),
    "green": (0.15, 0.80, 0.25),
    "blue": (0.20, 0.40, 1.00),
    "yellow": (0.95, 0.90, 0.15),
    "purple": (0.65, 0.20, 0.90),
}
RADIUS = {"small": 0.13, "large": 0.22}  # share of the image side
CENTRE = {  # (x, y) as shares of the image side, y pointing down
    "top left": (0.25, 0.25),
    "top right": (0.75, 0.25),
    "bottom left": (0.25, 0.75),
    "bottom right": (0.75, 0.75),
    "centre": (0.5, 0.5),
}
BACKGROUND = 0.05


def caption(shape: str, colour: str, size: str, position: str) -> str:
    """Return the English caption of one image, e.g. 'a small red circle at the top left'."""
    where = "in the centre" if position == "centre" else f"at the {position}"
    return f"a {size} {colour} {shape} {where}"


def shape_pixels(images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Return a boolean mask (N, H, W): the pixels of RGB images (N, 3, H, W) in [0, 1] that differ from the
    background by more than `threshold` in some channel, i.e. where the shape is."""
    return (images - BACKGROUND).abs().amax(1) > threshold


def shape_region(images: torch.Tensor, margin: int = 3) -> torch.Tensor:
    """Return a float mask (N, 1, H, W), 1 on the shape of RGB images (N, 3, H, W) in [0, 1] grown by `margin`
    pixels each way and 0 elsewhere: the region a generative fill draws anew."""
    pixels = shape_pixels(images)[:, None].float()  # (N, 1, H, W)
    return F.max_pool2d(pixels, 2 * margin + 1, stride=1, padding=margin)  # a pixel is in if the shape is near


def _signed_distance(shape_idx: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Return an approximate signed distance (pixels, negative inside) to each shape; inputs (N, H, W)."""
    up = -dy
    circle = torch.sqrt(dx**2 + dy**2) - r
    square = torch.maximum(dx.abs(), dy.abs()) - 0.85 * r
    triangle = torch.maximum(dx.abs() * 0.866 + up * 0.5, -up) - 0.55 * r
    w = 0.33 * r
    cross = torch.minimum(
        torch.maximum(dx.abs() - w, dy.abs() - r), torch.maximum(dy.abs() - w, dx.abs() - r)
    )
    all_shapes = torch.stack([circle, square, triangle, cross])  # (4, N, H, W)
    return all_shapes.gather(0, shape_idx[None, :, None, None].expand(1, *dx.shape))[0]


def render_shapes(attrs: dict[str, torch.Tensor], size: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return RGB images (N, 3, size, size) in [0, 1] of the shapes described by attribute indices."""
    for name in ATTRIBUTES:
        if name not in attrs:
            raise KeyError(f"attrs needs a tensor for {name!r}; it has {sorted(attrs)}")
    g = generator or torch.Generator().manual_seed(0)
    n = attrs["shape"].numel()
    centres = torch.tensor([CENTRE[p] for p in ATTRIBUTES["position"]])[attrs["position"]]  # (N, 2)
    radius = torch.tensor([RADIUS[s] for s in ATTRIBUTES["size"]])[attrs["size"]]  # (N,)
    centres = centres + (torch.rand(n, 2, generator=g) - 0.5) * 0.08  # a little jitter
    radius = radius * (0.9 + 0.2 * torch.rand(n, generator=g)) * size
    coords = torch.arange(size) + 0.5
    dx = coords[None, None, :] - centres[:, 0, None, None] * size  # (N, 1, W)
    dy = coords[None, :, None] - centres[:, 1, None, None] * size  # (N, H, 1)
    dx, dy = torch.broadcast_tensors(dx, dy)
    dist = _signed_distance(attrs["shape"], dx, dy, radius[:, None, None])
    alpha = (0.5 - dist).clamp(0, 1)[:, None]  # (N, 1, H, W): one pixel of anti-aliasing
    rgb = torch.tensor([RGB[c] for c in ATTRIBUTES["colour"]])[attrs["colour"]]  # (N, 3)
    rgb = (rgb + (torch.rand(n, 3, generator=g) - 0.5) * 0.1).clamp(0, 1)
    return BACKGROUND * (1 - alpha) + rgb[:, :, None, None] * alpha


@dataclass
class ShapesDataset:
    """Shapes images (N, 3, 32, 32) with attribute indices and captions, train and test."""

    x_train: torch.Tensor
    attrs_train: dict[str, torch.Tensor]
    captions_train: list[str]
    x_test: torch.Tensor
    attrs_test: dict[str, torch.Tensor]
    captions_test: list[str]
    held_out: list[dict[str, str]]

    name = "shapes"
    attribute_names = ATTRIBUTES

    @property
    def y_train(self) -> torch.Tensor:
        """Return the shape index of each training image (the default classification label)."""
        return self.attrs_train["shape"]

    @property
    def y_test(self) -> torch.Tensor:
        """Return the shape index of each test image."""
        return self.attrs_test["shape"]

    @property
    def class_names(self) -> list[str]:
        """Return the shape names."""
        return ATTRIBUTES["shape"]

    def __repr__(self) -> str:
        return f"ShapesDataset(train {tuple(self.x_train.shape)}, test {tuple(self.x_test.shape)}, held out {self.held_out})"


def _random_attrs(n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    return {name: torch.randint(len(values), (n,), generator=g) for name, values in ATTRIBUTES.items()}


def _matches(attrs: dict[str, torch.Tensor], combo: dict[str, str]) -> torch.Tensor:
    """Return a bool mask of the images whose attributes equal every entry of `combo`."""
    mask = torch.ones_like(attrs["shape"], dtype=torch.bool)
    for name, value in combo.items():
        if name not in ATTRIBUTES or value not in ATTRIBUTES[name]:
            raise ValueError(f"unknown attribute {name}={value!r}; choose from {ATTRIBUTES}")
        mask &= attrs[name] == ATTRIBUTES[name].index(value)
    return mask


def captions_of(attrs: dict[str, torch.Tensor]) -> list[str]:
    """Return the caption of every image described by attribute indices."""
    cols = [[ATTRIBUTES[name][i] for i in attrs[name].tolist()] for name in ATTRIBUTES]
    return [caption(*row) for row in zip(*cols)]


def shapes_dataset(
    n_train: int = 20000,
    n_test: int = 2000,
    size: int = 32,
    seed: int = 0,
    held_out: list[dict[str, str]] | tuple = (),
) -> ShapesDataset:
    """Return the shapes data set; combinations in `held_out` (e.g. {'colour': 'green', 'shape': 'triangle'})
    never appear in training but do appear in the test set."""
    g = torch.Generator().manual_seed(seed)
    attrs_train = _random_attrs(n_train, g)
    # redraw the images of any held-out combination until none is left (a redraw may land on another one)
    while held_out and (mask := torch.stack([_matches(attrs_train, c) for c in held_out]).any(0)).any():
        redraw = _random_attrs(int(mask.sum()), g)
        for name in ATTRIBUTES:
            attrs_train[name][mask] = redraw[name]
    attrs_test = _random_attrs(n_test, g)
    return ShapesDataset(
        render_shapes(attrs_train, size, g), attrs_train, captions_of(attrs_train),
        render_shapes(attrs_test, size, g), attrs_test, captions_of(attrs_test),
        [dict(c) for c in held_out],
    )


# Pictures made of the data set's shapes that are not images of it: junk for the shapes judge (course.judge).
SHAPE_JUNK_KINDS = ("colourless shapes", "half-erased shapes", "two shapes")


def shape_junk(attrs: dict[str, torch.Tensor], g: torch.Generator, kinds: tuple[str, ...] = SHAPE_JUNK_KINDS,
               size: int = 32) -> torch.Tensor:
    """Return one junk image (N, 3, size, size) per row of shape attributes, of a kind picked at random from `kinds`:
    the shape drawn grey ('colourless shapes'), the shape with the half on one side of its centre wiped out
    ('half-erased shapes'), or a second shape drawn over it ('two shapes')."""
    n = len(attrs["shape"])
    kind = torch.tensor([SHAPE_JUNK_KINDS.index(k) for k in kinds])[torch.randint(len(kinds), (n,), generator=g)]
    x = render_shapes(attrs, size, g)
    options = torch.stack([_colourless(x, g), _half_erased(x, attrs, g), _two_shapes(x, attrs, g)])  # (3, N, 3, H, W)
    return options[kind, torch.arange(n)]


def _colourless(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Return the shapes in grey: their colour's mean brightness, times 0.7 to 1.5."""
    brightness = 0.7 + 0.8 * torch.rand(len(x), 1, 1, 1, generator=g)
    return (BACKGROUND + (x.mean(1, keepdim=True) - BACKGROUND) * brightness).clamp(0, 1).expand_as(x)


def _half_erased(x: torch.Tensor, attrs: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
    """Return the shapes with the pixels on one side (top, bottom, left or right) of their centre of mass wiped out."""
    n, size = len(x), x.shape[-1]
    lit = ((x - BACKGROUND).amax(1) > 0.1).float()  # (N, H, W): the shape's pixels
    coords = torch.arange(size) + 0.5
    cy = ((lit.sum(2) * coords).sum(1) / lit.sum((1, 2)).clamp(min=1))[:, None, None]  # (N, 1, 1)
    cx = ((lit.sum(1) * coords).sum(1) / lit.sum((1, 2)).clamp(min=1))[:, None, None]
    side = torch.randint(4, (n,), generator=g)
    triangle = attrs["shape"] == ATTRIBUTES["shape"].index("triangle")
    side = torch.where(triangle & (side == 1), 0, side)  # a triangle's top half is a smaller triangle, not junk
    rows, cols = coords[None, :, None], coords[None, None, :]  # (1, H, 1), (1, 1, W)
    wipe = torch.stack(torch.broadcast_tensors(rows < cy, rows > cy, cols < cx, cols > cx))  # (4, N, H, W)
    return torch.where(wipe[side, torch.arange(n)][:, None], BACKGROUND, x)


def _two_shapes(x: torch.Tensor, attrs: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
    """Return the shapes with a second one drawn over them at another place (in the same place it could hide the
    first); a large shape in the centre overlaps one in a corner."""
    n, n_places = len(x), len(ATTRIBUTES["position"])
    second = _random_attrs(n, g)
    second["position"] = (attrs["position"] + torch.randint(1, n_places, (n,), generator=g)) % n_places
    y = render_shapes(second, x.shape[-1], g)
    return torch.where((y - BACKGROUND).amax(1, keepdim=True) > 0.05, y, x)
