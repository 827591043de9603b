"""The data sets and their loaders; `load_dataset(name)` is the one entry point to every data set by name.

Taught in 00_start_here.
"""
from __future__ import annotations

import difflib

NAMES = ("glyphs", "shapes", "mnist", "fashion-mnist")


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
