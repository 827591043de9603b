"""The one way a notebook reports a measured result: printed, checked against its target, recorded for the bench.

Taught in 00_start_here.
"""
from __future__ import annotations

import json
import operator
import os

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
METRICS_ENV = "COURSE_METRICS_FILE"  # set by course.tools.bench: a JSON-lines file the kernel appends to


def meets(value: float, target: str) -> bool:
    """Return whether `value` satisfies a target such as '>= 0.97' or '<= 10'."""
    parts = target.split()
    if len(parts) != 2 or parts[0] not in _OPS:
        raise ValueError(f"target must look like '>= 0.97' (one of {list(_OPS)} and a number), got {target!r}")
    return _OPS[parts[0]](value, float(parts[1]))


def report(name: str, value: float, target: str | None = None, digits: int = 3) -> float:
    """Print a metric, record it for `make bench`, and raise AssertionError if it misses its target; return the value.

    `target=None` reports without a bar (for figures shown for comparison). Targets are set for the glyph digits:
    after a lesson switched to MNIST or Fashion-MNIST (course.data.load_digits) a miss is shown, not raised.
    """
    from course.data import active_dataset

    value = float(value)
    ok = None if target is None else meets(value, target)
    mark = "" if ok is None else ("  ✓" if ok else "  ✗")
    if ok is False and active_dataset() != "glyphs":  # the targets were set for the glyph digits
        mark += f" (the target is for the glyph digits; on {active_dataset()} it is shown, not enforced)"
        ok = None
    print(f"{name} = {value:.{digits}f}" + (f"  (target {target})" if target else "") + mark)
    path = os.environ.get(METRICS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"name": name, "value": round(value, 6), "target": target, "ok": ok}) + "\n")
    if ok is False:
        raise AssertionError(f"{name} = {value:.{digits}f} misses its target {target}")
    return value
