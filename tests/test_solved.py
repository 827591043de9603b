"""`make test` runs the student notebooks beside the solutions: the markers of course/tools/solved.py, and the
root conftest.py that writes them (and sets nbval's output wait) under a real nbval run."""
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import nbformat
import pytest

from course.tools.solved import ALL_DONE, ENV, mark_solved, wait_until_solved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_without_the_folder_nothing_is_marked_and_nothing_waits(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    mark_solved("04_cnn")
    assert wait_until_solved("04_cnn") == 0.0
    assert list(tmp_path.iterdir()) == []


def test_waits_for_its_own_lesson_only(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(tmp_path))
    mark_solved("03_data")
    timer = threading.Timer(0.6, mark_solved, args=("04_cnn",))
    timer.start()
    waited = wait_until_solved("04_cnn", poll_seconds=0.05)
    timer.join()
    assert 0.4 < waited < 5
    assert wait_until_solved("03_data", poll_seconds=0.05) < 0.5


def test_the_end_of_the_solutions_run_ends_every_wait(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(tmp_path))
    (tmp_path / ALL_DONE).touch()  # the solutions' run ended (say it failed) before lesson 09 was marked
    assert wait_until_solved("09_text_to_image", poll_seconds=0.05) < 0.5


def test_a_missing_folder_gets_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        wait_until_solved("04_cnn")


PROBE = '''
def pytest_collection_modifyitems(items):
    print("OUTPUT_WAITS", sorted({item.output_timeout for item in items}))
'''


def test_nbval_run_marks_each_solution_and_waits_longer_for_output(tmp_path):
    """A real nbval run of a two-cell notebook in a solutions/ folder under the project (so the root conftest applies)."""
    wait = re.search(r"^NBVAL_OUTPUT_WAIT = (\d+)", open(os.path.join(ROOT, "conftest.py")).read(), re.M).group(1)
    work = os.path.join(ROOT, ".cache", f"probe-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(os.path.join(work, "solutions"))
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x + 1)")])
        nbformat.write(nb, os.path.join(work, "solutions", "00_probe.ipynb"))
        with open(os.path.join(work, "probe_plugin.py"), "w") as f:
            f.write(PROBE)
        marks = tmp_path / "marks"
        marks.mkdir()
        env = dict(os.environ, **{ENV: str(marks)}, PYTHONPATH=work)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "probe_plugin", "-p", "no:cacheprovider",
                                 "--nbval-lax", "--nbval-current-env", os.path.join(work, "solutions", "00_probe.ipynb")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert f"OUTPUT_WAITS [{wait}]" in result.stdout, result.stdout[-2000:]
        assert sorted(os.listdir(marks)) == ["00_probe.done"]
        assert time.perf_counter() - started < 120
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_solutions_running_until_the_run_ends(monkeypatch, tmp_path):
    from course.tools.solved import solutions_running

    monkeypatch.delenv(ENV, raising=False)
    assert not solutions_running()  # no run marked: nothing to wait for
    monkeypatch.setenv(ENV, str(tmp_path))
    assert solutions_running()
    (tmp_path / ALL_DONE).touch()
    assert not solutions_running()


def test_wait_for_stops_its_clock_while_the_solutions_run(monkeypatch, tmp_path):
    from course.tools.solved import wait_for

    monkeypatch.delenv(ENV, raising=False)
    assert wait_for(lambda: 7, 1, "a true value at once") == 7
    started = time.perf_counter()
    with pytest.raises(AssertionError, match="timed out after 0 s: never true"):
        wait_for(lambda: False, 0.3, "never true", step=0.05)
    assert time.perf_counter() - started < 2
    monkeypatch.setenv(ENV, str(tmp_path))  # the solutions' run goes on for 1 s: the 0.3 s count only after it
    timer = threading.Timer(1.0, (tmp_path / ALL_DONE).touch)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(AssertionError, match="never true"):
        wait_for(lambda: False, 0.3, "never true", step=0.05)
    timer.join()
    assert 1.2 < time.perf_counter() - started < 5
