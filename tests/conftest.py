import os

import matplotlib
import pytest

from course.device import cpu_threads

matplotlib.use("Agg")
os.environ.setdefault("COURSE_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test-cache"))


@pytest.fixture
def one_thread():
    """Run a test on one CPU thread: small models train fastest so, and are not slowed by other programs."""
    with cpu_threads(1):
        yield
