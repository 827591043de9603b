"""The data sets and their loaders; `load_dataset(name)` is the one entry point to every data set by name, and
`load_digits`, `digit_subset` and `use_digits` are the digit lessons' one-line switch (DATASET = "glyphs" | ...).

Taught in 00_start_here.
"""
from __future__ import annotations

import difflib
import functools

import torch

from course.data.image_dataset import ImageDataset

NAMES = ("glyphs", "shapes", "mnist", "fashion-mnist")
DIGIT_SETS = ("glyphs", "mnist", "fashion-mnist")  # what a digit lesson's one-line switch may name
_active = {"name": "glyphs", "root": None}  # the data set the judge and the model cache follow


def load_dataset(name: str, **kwargs):
    """Return a data set by name: 'glyphs' and 'shapes' are generated offline; 'mnist' and
    'fashion-mnist' are downloaded (or read from `root=`). Extra arguments go to its builder."""
    if name == "glyphs":
        from course.data.glyphs import glyph_digits

        return glyph_digits(**kwargs)
    if name == "shapes":
        from course.data.shapes import shapes_dataset

        return shapes_dataset(**kwargs)
    if name in ("mnist", "fashion-mnist"):
        from course.data.mnist import load_real

        return load_real(name, **kwargs)
    raise ValueError(f"unknown data set {name!r}: choose from {', '.join(NAMES)}.{did_you_mean(name, NAMES)}")


def did_you_mean(name: str, choices: tuple[str, ...]) -> str:
    """Return " Did you mean 'x'?" with the choice closest to a mistyped name, or "" when none is close."""
    close = difflib.get_close_matches(str(name), choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def use_digits(name: str = "glyphs", root: str | None = None) -> str:
    """Make a digit set ('glyphs', 'mnist' or 'fashion-mnist') the active data set for the rest of the session and
    return the name in use: `name`, or 'glyphs' when a real set is not available. Nothing is loaded for the glyphs.

    The active data set is what the judge scores against (`course.metrics.judge_samples`) and part of
    every cached model's key (`course.cache.trained`), so models trained on one data set are never
    loaded for another. 'mnist' and 'fashion-mnist' are downloaded once (or read from `root=`); when
    that fails (offline) this prints one line and chooses the glyph digits instead.
    """
    if name not in DIGIT_SETS:
        hint = did_you_mean(name, DIGIT_SETS)
        raise ValueError(f"a digit lesson can use {', '.join(DIGIT_SETS)}, not {name!r}.{hint}")
    if name != "glyphs":
        from course.data.mnist import DatasetUnavailable

        try:
            _digits(name, root)  # download or read now, so that a failure falls back to the glyphs here
        except (DatasetUnavailable, FileNotFoundError) as err:
            print(f"{name} is not available here ({err}); using the glyph digits instead.")
            name, root = "glyphs", None
    _active.update(name=name, root=root)
    return name


def load_digits(name: str = "glyphs", root: str | None = None) -> ImageDataset:
    """Return the 28x28 data set a digit lesson trains on ('glyphs', 'mnist' or 'fashion-mnist') as an ImageDataset,
    and make it the active data set (`use_digits`: offline, a real set falls back to the glyphs with one line)."""
    use_digits(name, root)
    return active_digits()


def digit_subset(name: str, n_train: int, n_test: int, seed: int = 0, root: str | None = None) -> ImageDataset:
    """Return `n_train` training and `n_test` test images of a digit set as an ImageDataset, the same for the same
    seed, and make the set active (`use_digits`: offline, a real set falls back to the glyphs with one line).

    The glyphs are drawn new, `glyph_digits(n_train, n_test, seed=seed)`; 'mnist' and 'fashion-mnist' give a random
    sample of their training and test images, none twice.
    """
    name = use_digits(name, root)
    if name == "glyphs":
        from course.data.glyphs import glyph_digits

        return glyph_digits(n_train=n_train, n_test=n_test, seed=seed)
    full = active_digits()
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for x, n, split in ((full.x_train, n_train, "training"), (full.x_test, n_test, "test")):
        if not 0 <= n <= len(x):
            raise ValueError(f"{name} has {len(x)} {split} images, not {n}")
        chosen.append(torch.randperm(len(x), generator=g)[:n])
    train, test = chosen
    info = {"sample of": f"{len(full.x_train)} + {len(full.x_test)} images, seed {seed}"}
    return ImageDataset(name, full.x_train[train], full.y_train[train], full.x_test[test], full.y_test[test],
                        full.class_names, info)


@functools.lru_cache(maxsize=4)
def _digits(name: str, root: str | None):
    if name == "glyphs":
        from course.data.glyphs import glyph_digits

        return glyph_digits()
    from course.data.mnist import load_real

    return load_real(name, root=root)


def active_dataset() -> str:
    """Return the name of the data set the last `use_digits` (or `load_digits`, `digit_subset`) call chose;
    'glyphs' until one is called."""
    return _active["name"]


def active_digits() -> ImageDataset:
    """Return the active data set (an ImageDataset): the glyph digits unless a lesson chose another."""
    return _digits(_active["name"], _active["root"])


def loaded_digits(name: str) -> ImageDataset:
    """Return the digit set `name` as the last `use_digits` or `load_digits` call loaded it (a root= folder, say);
    raise RuntimeError when another set is active."""
    if name != active_dataset():
        raise RuntimeError(f"{name} is not the active data set ({active_dataset()} is): call "
                           f"course.data.load_digits({name!r}) first")
    return active_digits()


def generation_times() -> dict[str, float]:
    """Return the seconds each embedded data set takes to generate at its default size."""
    import time

    from course.data.sequences import moving_sequences

    builders = {
        "glyphs (30,000 + 5,000)": lambda: load_dataset("glyphs"),
        "shapes (20,000 + 2,000)": lambda: load_dataset("shapes"),
        "moving sequences (2,000 x 10 frames)": lambda: moving_sequences(),
    }
    times = {}
    for name, build in builders.items():
        start = time.perf_counter()
        build()
        times[name] = time.perf_counter() - start
    return times
