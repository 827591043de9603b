"""Strict checks: with COURSE_STRICT_CHECKS=1 (how `make test` runs solutions/) a wrong answer fails the run."""
import os

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course.checks.core import Hint, exercise_check, strict_checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@exercise_check
def check_always_wrong(fn):
    raise Hint("wrong on purpose")


def test_lenient_by_default_strict_when_asked(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    assert not strict_checks() and check_always_wrong(lambda: None) is False
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="wrong on purpose"):
        check_always_wrong(lambda: None)
    assert "✗ always_wrong: wrong on purpose" in capsys.readouterr().out


def _exercise_notebook(break_answer: bool):
    """Return a notebook of lesson 00's exercise cell and its check cell, taken from solutions/."""
    nb = nbformat.read(os.path.join(ROOT, "solutions", "00_start_here.ipynb"), as_version=4)
    answer = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("def class_means"))
    check = next(c for c in nb.cells if c.cell_type == "code" and "check_class_means(class_means)" in c.source)
    source = answer.source
    if break_answer:  # a typical mistake: sums instead of means
        source = source.replace(".mean(dim=0)", ".sum(dim=0)")
        assert source != answer.source, "the solution's answer changed: update this test"
    cells = [nbformat.v4.new_code_cell("import torch"), nbformat.v4.new_code_cell(source),
             nbformat.v4.new_code_cell(check.source)]
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


@pytest.mark.parametrize("strict", [False, True])
def test_a_broken_solution_fails_only_the_strict_run(monkeypatch, strict):
    if strict:
        monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    else:
        monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    NotebookClient(_exercise_notebook(break_answer=False), timeout=60, kernel_name="python3").execute()
    broken = NotebookClient(_exercise_notebook(break_answer=True), timeout=60, kernel_name="python3")
    if strict:
        with pytest.raises(CellExecutionError, match="sums, not means"):
            broken.execute()
    else:
        broken.execute()  # lenient: a student notebook runs on past a wrong answer
        assert "✗ class_means" in broken.nb.cells[-1].outputs[0]["text"]
