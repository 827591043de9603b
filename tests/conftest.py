import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("COURSE_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "test-cache"))
