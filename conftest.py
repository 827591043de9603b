"""pytest settings shared by every test run here, the notebook runs (nbval) included.

nbval waits a fixed 5 s for each output message after a cell finishes (nbval issues #136 and #231);
on a busy machine a cell that printed many display updates (live plots, progress bars) can miss
that and fail. The one place the wait is set for the whole suite is NBVAL_OUTPUT_WAIT.
"""
import importlib.util

NBVAL_OUTPUT_WAIT = 120  # seconds

if importlib.util.find_spec("nbval") is None:  # nbval not installed: nothing to configure
    IPyNbCell = None
else:
    from nbval.plugin import IPyNbCell  # nbval's notebook cell item (a rename must fail here, not go unnoticed)

if IPyNbCell is not None and not getattr(IPyNbCell, "_course_output_wait", False):
    _nbval_init = IPyNbCell.__init__

    def _init_with_longer_wait(self, *args, **kwargs):
        _nbval_init(self, *args, **kwargs)
        self.output_timeout = NBVAL_OUTPUT_WAIT

    IPyNbCell.__init__ = _init_with_longer_wait
    IPyNbCell._course_output_wait = True


# `make test` runs each student notebook beside the solutions, once its own solution has run (course/tools/solved.py).
_started_notebooks = set()


def _lesson_notebook(item):
    """Return (folder, lesson) for an nbval cell of a notebook in solutions/ or notebooks/, else None."""
    if IPyNbCell is None or not isinstance(item, IPyNbCell):
        return None
    return item.path.parent.name, item.path.stem


def pytest_runtest_setup(item):
    where = _lesson_notebook(item)
    if where and where[0] == "notebooks" and item.path not in _started_notebooks:
        from course.tools.solved import wait_until_solved

        _started_notebooks.add(item.path)
        wait_until_solved(where[1])


def pytest_runtest_teardown(item, nextitem):
    where = _lesson_notebook(item)
    if where and where[0] == "solutions" and (nextitem is None or nextitem.path != item.path):
        from course.tools.solved import mark_solved

        mark_solved(where[1])
