"""Which solution notebooks `make test` has run so far, so that the student notebooks can run beside them.

`make test` runs the solutions (every model trained into an empty cache) and, at the same time, on one thread at
the lowest CPU priority (SCHED_IDLE), each student notebook as soon as its own solution has finished (it loads
the models that run cached). The solutions' run marks each finished lesson with a file in $COURSE_SOLVED_DIR
(the top-level conftest.py calls `mark_solved`), and `all.done` when it ends for any reason; the student run
waits with `wait_until_solved`. Without COURSE_SOLVED_DIR nothing is marked and nothing waits.
"""
from __future__ import annotations

import os
import time
from typing import Callable

ENV = "COURSE_SOLVED_DIR"
ALL_DONE = "all.done"  # written when the solutions' run has ended, passed or not


def mark_solved(lesson: str) -> None:
    """Record that the solution notebook `lesson` (e.g. "04_cnn") has run; returns None. No-op without COURSE_SOLVED_DIR."""
    folder = os.environ.get(ENV)
    if folder:
        open(os.path.join(folder, f"{lesson}.done"), "w").close()


def solutions_running() -> bool:
    """Return True while the solutions' run marked by $COURSE_SOLVED_DIR goes on (False without it, or once it ended)."""
    folder = os.environ.get(ENV)
    return bool(folder) and not os.path.exists(os.path.join(folder, ALL_DONE))


def wait_until_solved(lesson: str, poll_seconds: float = 2.0) -> float:
    """Wait until the solution of `lesson` has run, or the solutions' run has ended; return the seconds waited.

    Returns at once without COURSE_SOLVED_DIR (the student notebooks then run on whatever is cached).
    """
    folder = os.environ.get(ENV)
    start = time.perf_counter()
    if not folder:
        return 0.0
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{ENV}={folder} is not a folder: unset it, or point it at the solutions' run's folder")
    while not any(os.path.exists(os.path.join(folder, name)) for name in (f"{lesson}.done", ALL_DONE)):
        time.sleep(poll_seconds)
    return time.perf_counter() - start


def wait_for(predicate: Callable[[], object], seconds: float, what: str, step: float = 0.5):
    """Return predicate()'s first true value, polling every `step` s; raise AssertionError("timed out ...: what")
    after `seconds` s. The seconds count only while the solutions' run is not going on: beside it, at a lower priority,
    a student lesson may get almost no CPU until it ends (slow, not stuck). Without COURSE_SOLVED_DIR: plain seconds."""
    left, last = seconds, time.perf_counter()
    while True:
        value = predicate()
        if value:
            return value
        now = time.perf_counter()
        if not solutions_running():
            left -= now - last
        last = now
        if left <= 0:
            raise AssertionError(f"timed out after {seconds:.0f} s: {what}")
        time.sleep(step)
