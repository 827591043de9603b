"""All the course's pictures: image grids, loss curves (live too), animations, strips, confusion matrices.

Taught in 00_start_here. Every function accepts tensors or arrays in any common image layout,
takes an optional `ax`, returns what it drew, and writes no file.
"""
from __future__ import annotations

import math
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_hwc(img) -> np.ndarray:
    """Return one image as a NumPy array (H, W) or (H, W, C), from (C, H, W), (H, W, C) or (H, W)."""
    x = torch.as_tensor(np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img)).float()
    if x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.permute(1, 2, 0)  # (C, H, W) -> (H, W, C)
    elif x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(1, 2, 0)  # ambiguous tiny image: the course's layout is channels first
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
        raise ValueError(f"cannot show an image of shape {tuple(x.shape)}: expected (C, H, W), (H, W, C) or (H, W)")
    return x.numpy()


def _as_batch(images) -> list:
    if isinstance(images, (list, tuple)):
        return list(images)
    x = images.detach().cpu() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.ndim == 2 or (x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3)):
        return [x]  # a single image
    if x.ndim == 5:
        x = x.flatten(0, 1)  # frames (B, T, C, H, W) -> (B*T, C, H, W)
    if x.ndim not in (3, 4):
        raise ValueError(f"show_images needs (B, C, H, W), (B, H, W), (B, H, W, C) or one image; got shape {tuple(x.shape)}")
    return list(x)


def _fit_title(title, width_inches: float) -> tuple[str, float]:
    """Return the title wrapped to the axes' width (two lines if a smaller font allows), and its font size."""
    import textwrap

    for fontsize in (8, 7, 6, 5):
        chars_per_line = max(6, int(width_inches * 72 / (0.6 * fontsize)))  # about 0.6 em per character
        lines = textwrap.wrap(str(title), chars_per_line, break_on_hyphens=False) or [""]
        if len(lines) <= 2:
            break
    return "\n".join(lines), fontsize


def show_image(img, ax=None, title: str | None = None, cmap: str = "gray", vmin=0.0, vmax=1.0):
    """Show one image on `ax` (a new one if None); return the axes."""
    ax = ax or plt.subplots(figsize=(2.5, 2.5))[1]
    arr = to_hwc(img)
    ax.imshow(arr.clip(vmin, vmax) if arr.ndim == 3 else arr, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if title is not None:
        width = ax.get_position().width * ax.figure.get_figwidth()
        text, fontsize = _fit_title(title, width)
        ax.set_title(text, fontsize=fontsize)
    return ax


def show_images(images, titles=None, ncols: int | None = None, size: float = 1.4, suptitle: str | None = None,
                cmap: str = "gray", vmin=0.0, vmax=1.0, axes=None):
    """Show a batch of images as a grid; return the figure.

    Accepts (B, C, H, W), (B, H, W), (B, H, W, C), frames (B, T, C, H, W), one image, or a list.
    Pass vmin/vmax for images outside [0, 1] (e.g. -1, 1 for standardised data).
    """
    imgs = _as_batch(images)
    n = len(imgs)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = ncols or min(n, 10)
    nrows = max(1, math.ceil(n / ncols))
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.3 if titles else 1)), squeeze=False)
    axes = np.asarray(axes).reshape(-1)
    for i, ax in enumerate(axes):
        if i < n:
            show_image(imgs[i], ax, None if titles is None else titles[i], cmap, vmin, vmax)
        else:
            ax.set_axis_off()
    fig = axes[0].figure
    if suptitle:
        fig.suptitle(suptitle)
    with warnings.catch_warnings():  # very small grids cannot fit a title: draw them anyway, quietly
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], ax=None, keys=None, logy: bool = False):
    """Plot each list in a history dict against its step (or epoch, when it has no 'step'); return the axes."""
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    x_key = "step" if history.get("step") else None
    for key in keys or [k for k, v in history.items() if isinstance(v, list) and v and k not in ("step", "seconds")]:
        xs = history[x_key] if x_key else range(1, len(history[key]) + 1)
        ax.plot(xs, history[key], marker="." if len(history[key]) < 40 else None, label=key)
    ax.set_xlabel(x_key or "epoch")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


class LiveLoss:
    """A loss curve that redraws one figure in place while training runs.

    Use `live = LiveLoss(); live.update(step, loss=...)` inside a loop and `live.close()` after.
    Outside Jupyter it only records.
    """

    def __init__(self, title: str = "training", every: int = 1, logy: bool = False, min_seconds: float = 2.0):
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.title, self.every, self.logy, self._calls = title, every, logy, 0
        # Redraw at most every `min_seconds`: a flood of display updates slows training and can
        # make nbval give up waiting for a cell's output.
        self.min_seconds, self._last_draw = min_seconds, float("-inf")
        self.fig = self.ax = self._handle = None  # made at the first update: a model loaded from the cache draws nothing

    def _show(self) -> None:
        self.fig, self.ax = plt.subplots(figsize=(5, 3))
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                self._handle = display(self.fig, display_id=True)
        except ImportError:
            pass

    def update(self, step: int, **values: float) -> None:
        """Record values at `step` and redraw (every `every` calls)."""
        for key, value in values.items():
            self.history.setdefault(key, []).append((step, float(value)))
        self._calls += 1
        if self._calls % self.every == 0 and time.perf_counter() - self._last_draw >= self.min_seconds:
            self._draw()

    def _draw(self) -> None:
        if self.fig is None:
            self._show()
        self.ax.clear()
        for key, points in self.history.items():
            steps, vals = zip(*points)
            self.ax.plot(steps, vals, label=key)
        if self.logy:
            self.ax.set_yscale("log")
        self.ax.set_title(self.title)  # clear() wiped it
        self.ax.set_xlabel("step")
        self.ax.legend()
        self.ax.grid(alpha=0.3)
        if self._handle is not None:
            self._handle.update(self.fig)
        self._last_draw = time.perf_counter()

    def close(self) -> None:
        """Draw the final curve (if anything was recorded) and stop showing the figure a second time below the cell."""
        if not self.history:
            return
        self._draw()
        plt.close(self.fig)


class LiveGrid:
    """A grid of generated samples redrawn in place while a generator trains.

    `LiveGrid(sample, title)`, where `sample(generator)` returns images (N, C, H, W) in [0, 1];
    call `update(step, generator)` every few seconds from the loop (course.gan.train_gan does).
    Outside Jupyter it draws nothing.
    """

    def __init__(self, sample, title: str):
        self.sample, self.title, self._handle = sample, title, None

    def update(self, step: int, generator) -> None:
        """Redraw the grid from `generator`'s samples."""
        fig = show_images(self.sample(generator), ncols=16, size=0.4, suptitle=f"{self.title}, step {step}")
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                if self._handle is None:
                    self._handle = display(fig, display_id=True)
                else:
                    self._handle.update(fig)
        except ImportError:
            pass
        plt.close(fig)


def animate_frames(frames, interval: int = 150, size: float = 2.0, titles=None):
    """Return an HTML animation (play/pause/step controls) of frames (T, C, H, W) or several sequences (B, T, C, H, W)."""
    from IPython.display import HTML
    from matplotlib import animation

    x = frames.detach().cpu() if isinstance(frames, torch.Tensor) else torch.as_tensor(np.asarray(frames))
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"frames must be (T, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")
    b, t = x.shape[:2]
    fig, axes = plt.subplots(1, b, figsize=(size * b, size), squeeze=False)
    ims = []
    for i, ax in enumerate(axes[0]):
        ims.append(ax.imshow(to_hwc(x[i, 0]), cmap="gray", vmin=0, vmax=1))
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)

    def step(k):
        for i, im in enumerate(ims):
            im.set_data(to_hwc(x[i, k]))
        return ims

    anim = animation.FuncAnimation(fig, step, frames=t, interval=interval, blit=True)
    html = HTML(anim.to_jshtml())
    plt.close(fig)
    return html


def show_strip(images, labels=None, title: str | None = None, size: float = 1.2):
    """Show images in one row (an interpolation or a denoising path); return the figure."""
    imgs = _as_batch(images)
    return show_images(imgs, titles=labels, ncols=len(imgs), size=size, suptitle=title)


def plot_confusion(y_true: torch.Tensor, y_pred: torch.Tensor, class_names=None, ax=None):
    """Plot the confusion matrix (rows: true class, columns: predicted); return the matrix as a tensor."""
    n = int(max(y_true.max(), y_pred.max())) + 1 if class_names is None else len(class_names)
    cm = torch.bincount(y_true.cpu() * n + y_pred.cpu(), minlength=n * n).reshape(n, n)
    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    ax.imshow(cm.numpy(), cmap="Blues")
    names = class_names or [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=90 if max(len(s) for s in names) > 2 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    return cm
