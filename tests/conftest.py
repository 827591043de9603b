import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("COURSE_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test-cache"))


@pytest.fixture
def one_thread():
    """Run a test on one CPU thread: small models train fastest so, and are not slowed by other programs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
