"""Grading with nbgrader: the source folder `make grading` writes, and a real round trip.

The round trip (release, answer, autograde, read the score) needs nbgrader, which lives in its own venv
(`make test-grading` makes .cache/grading-venv from PyPI and runs this file); without that venv it is
skipped, except in CI (CI=true), where it must run. Grading runs the notebooks with this project's
Python: a `python3` kernelspec on JUPYTER_PATH points nbgrader at it, as docs/teachers.md tells teachers.
"""
import csv
import glob
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from course.tools import student

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NBGRADER = os.path.join(ROOT, ".cache", "grading-venv", "bin", "nbgrader")
LESSON = "01_learning_from_data"  # fast (< 1 min), four exercises: one wrong answer gives 3 of 4 points
SOLUTIONS = sorted(glob.glob(os.path.join(ROOT, "solutions", "[0-9][0-9]_*.ipynb")))


def _grading(path):
    name = os.path.basename(path)
    return student.grading_version(nbformat.read(path, as_version=4), name, student.repo_url()), name


@pytest.mark.parametrize("path", SOLUTIONS, ids=os.path.basename)
def test_grading_source_marks_answers_and_checks(path):
    nb, name = _grading(path)
    assert f"blob/main/notebooks/{name}" in nb.cells[0].source, "the badge must open the student version"
    assert "widgets" not in nb.metadata
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert answers and len(checks) == len(answers), "one graded check per exercise"
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type == "code" and student.BEGIN in cell.source:
            assert meta and meta["solution"] and not meta["grade"], f"{name}: answer cell without solution metadata"
        if meta:
            assert re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"]) and meta["schema_version"] == 3
        if meta and meta["grade"]:
            assert meta["points"] >= 1 and meta["locked"]
            assert cell.source.startswith(student.STRICT_HIDDEN_TEST)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", SOLUTIONS, ids=os.path.basename)
def test_student_version_has_no_widget_state(path):
    nb = nbformat.read(path, as_version=4)
    out = student.student_version(nb, os.path.basename(path), student.repo_url())
    assert "widgets" not in out.metadata
    assert all(not c.get("outputs") and "execution" not in c.metadata for c in out.cells if c.cell_type == "code")


def _nbgrader_or_skip():
    if os.path.exists(NBGRADER):
        return NBGRADER
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {NBGRADER} is missing: run `make test-grading`")
    pytest.skip("nbgrader round trip skipped: run `make test-grading` to install nbgrader into .cache/grading-venv")


def _answer(source: str, body: str | None = None) -> str:
    """What a student types: the solution (markers removed), or `body` in its place."""
    lines, out, inside = source.split("\n"), [], False
    for line in lines:
        if line.strip() == student.BEGIN:
            inside = True
            if body is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(indent + body)
        elif line.strip() == student.END:
            inside = False
        elif not inside or body is None:
            out.append(line)
    return "\n".join(out)


def test_nbgrader_round_trip(tmp_path):
    nbgrader = _nbgrader_or_skip()
    course = tmp_path / "course"
    student.write_grading(str(course))
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (course)", "language": "python"}))
    env = dict(os.environ, JUPYTER_PATH=str(tmp_path / "jupyter"), COURSE_CACHE=str(tmp_path / "cache"),
               PATH=os.path.dirname(nbgrader) + os.pathsep + os.environ["PATH"])  # nbgrader runs `alembic` from PATH
    env.pop("COURSE_STRICT_CHECKS", None)

    def run(*args, timeout=600):
        out = subprocess.run([nbgrader, *args], cwd=course, env=env, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    run("generate_assignment", LESSON)  # no nbgrader_config.py, no extra options
    released = nbformat.read(course / "release" / LESSON / f"{LESSON}.ipynb", as_version=4)
    name = f"{LESSON}.ipynb"
    ours = student.student_version(nbformat.read(os.path.join(ROOT, "solutions", name), as_version=4),
                                   name, student.repo_url())
    assert [c.source for c in released.cells] == [c.source for c in ours.cells], "release differs from notebooks/"
    assert f"blob/main/notebooks/{name}" in released.cells[0].source
    assert "widgets" not in released.metadata and "HIDDEN TESTS" not in json.dumps(released.dict())

    solution = nbformat.read(course / "source" / LESSON / name, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    assert sorted(answers) == ["descend", "descend_autograd", "line_gradients", "poly_features"]
    wrong = {"poly_features": "return torch.stack([x**k for k in range(degree)], dim=1)"}  # misses x**degree
    for who, bodies in (("ada", {}), ("bob", wrong)):
        nb = nbformat.read(course / "release" / LESSON / name, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell.source = _answer(answers[grade_id], bodies.get(grade_id))
        folder = course / "submitted" / who / LESSON
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / name))

    # nbgrader's default cell timeout is 30 s; a busy 2-core machine needs more for the plotting cells.
    run("autograde", LESSON, "--Execute.timeout=300", timeout=900)
    run("export", "--to", str(tmp_path / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert float(rows["ada"]["max_score"]) == 4  # one point per checked exercise
    assert (float(rows["ada"]["raw_score"]), float(rows["bob"]["raw_score"])) == (4, 3), rows
    graded = nbformat.read(course / "autograded" / "bob" / LESSON / name, as_version=4)
    check = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_poly_features")
    assert any(o.get("ename") == "AssertionError" and "poly_features" in o.get("evalue", "") for o in check.outputs)
