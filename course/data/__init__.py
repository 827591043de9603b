"""The data sets and their loaders; `load_dataset(name)` is the one entry point to every data set by name.

Taught in 00_start_here.
"""
from __future__ import annotations

import difflib
import functools

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
    close = difflib.get_close_matches(str(name), NAMES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown data set {name!r}: choose from {', '.join(NAMES)}.{hint}")


def load_digits(name: str = "glyphs", root: str | None = None):
    """Return the 28x28 data set a digit lesson trains on ('glyphs', 'mnist' or 'fashion-mnist') as an ImageDataset,
    and make it the active data set for the rest of the session.

    The active data set is what the judge scores against (`course.metrics.judge_samples`) and part of
    every cached model's key (`course.cache.trained`), so models trained on one data set are never
    loaded for another. 'mnist' and 'fashion-mnist' are downloaded once (or read from `root=`); when
    that fails (offline) this prints one line and returns the glyph digits instead.
    """
    if name not in DIGIT_SETS:
        close = difflib.get_close_matches(str(name), DIGIT_SETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"a digit lesson can use {', '.join(DIGIT_SETS)}, not {name!r}.{hint}")
    if name != "glyphs":
        from course.data.mnist import DatasetUnavailable

        try:
            _digits(name, root)  # download or read now, so that a failure falls back to the glyphs here
        except (DatasetUnavailable, FileNotFoundError) as err:
            print(f"{name} is not available here ({err}); using the glyph digits instead.")
            name, root = "glyphs", None
    _active.update(name=name, root=root)
    return _digits(name, root)


@functools.lru_cache(maxsize=4)
def _digits(name: str, root: str | None):
    if name == "glyphs":
        from course.data.glyphs import glyph_digits

        return glyph_digits()
    from course.data.mnist import load_real

    return load_real(name, root=root)


def active_dataset() -> str:
    """Return the name of the data set the last `load_digits` call chose ('glyphs' until one is called)."""
    return _active["name"]


def active_digits():
    """Return the active data set (an ImageDataset): the glyph digits unless a lesson chose another."""
    return _digits(_active["name"], _active["root"])


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
