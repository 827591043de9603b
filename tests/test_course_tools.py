import glob
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from course.tools import student
from course.tools.bench import format_row
from course.report import meets, report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "course")) if f.endswith(".py") and f != "__init__.py")


def test_student_notebooks_are_in_sync_with_solutions():
    stale = student.build(check=True)
    assert stale == [], f"run `make notebooks`: out of date {stale}"


def test_every_solution_has_a_student_version_badge_setup_and_budget():
    url = student.repo_url()
    for name in sorted(os.listdir(os.path.join(ROOT, "solutions"))):
        if not name.endswith(".ipynb"):
            continue
        for folder in ("solutions", "notebooks"):
            nb = nbformat.read(os.path.join(ROOT, folder, name), as_version=4)
            assert f"blob/main/{folder}/{name}" in nb.cells[0].source
            assert url in nb.cells[1].source and "google.colab" in nb.cells[1].source
            assert nb.metadata["course"]["budget_seconds"] > 0
        text = open(os.path.join(ROOT, "notebooks", name)).read()
        assert "# BEGIN SOLUTION" not in text and "# END SOLUTION" not in text


def test_checked_cells_do_not_hide_a_result_with_a_semicolon():
    # under nbval a trailing `;` does not suppress the cell's result (the kernel keeps no history), so a checked cell
    # would show an output the stored notebook lacks and fail: assign the result instead (`x = report(...)`)
    for path in sorted(glob.glob(os.path.join(ROOT, "solutions", "[0-9][0-9]_*.ipynb"))):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            lines = [l for l in cell.source.rstrip().splitlines() if l.strip() and not l.lstrip().startswith("#")]
            if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in cell.source and lines:
                assert not lines[-1].split("#")[0].rstrip().endswith(";"), f"{os.path.basename(path)} cell {i}"


def test_strip_solutions_keeps_indent_and_rejects_top_level_answers():
    src = "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n\nprint(1)"
    assert student.strip_solutions(src) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(1)"
    with pytest.raises(ValueError, match="inside a function"):
        student.strip_solutions("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")
    with pytest.raises(ValueError, match="without # END"):
        student.strip_solutions("def f():\n    # BEGIN SOLUTION\n    pass")


def test_environment_yml_lists_the_pyproject_dependencies():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    specs = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    deps = {re.match(r"[A-Za-z0-9_-]+", d).group(0) for d in specs}
    env = open(os.path.join(ROOT, "environment.yml")).read().split("dependencies:")[1]
    conda = set(re.findall(r"^  - ([A-Za-z][A-Za-z0-9_-]*)", env, re.M)) - {"python", "pip"}
    assert deps == {"torch" if n == "pytorch" else n for n in conda}


def test_report_prints_records_and_asserts(tmp_path, monkeypatch, capsys):
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv("COURSE_METRICS_FILE", str(path))
    report("test_accuracy", 0.98123, ">= 0.97")
    assert "test_accuracy = 0.981  (target >= 0.97)  ✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="misses its target"):
        report("psnr", 12.0, ">= 20")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0] == {"name": "test_accuracy", "value": 0.98123, "target": ">= 0.97", "ok": True}
    assert rows[1]["ok"] is False
    assert meets(3, "<= 3") and not meets(3, "< 3")
    with pytest.raises(ValueError, match="target must look like"):
        meets(1, "at least 3")


def test_bench_row_format():
    row = {"notebook": "02_neural_network", "seconds": 41.2, "budget_seconds": 90, "error": None,
           "metrics": [{"name": "test_accuracy", "value": 0.981, "target": ">= 0.97", "ok": True}]}
    lines = format_row(row)
    assert "41.2 s / 90 s ok" in lines[0] and "test_accuracy" in lines[1] and "pass" in lines[1]


def test_bench_runs_a_notebook_and_collects_metrics(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from course.report import report\nreport('answer', 42, '>= 40')")])
    nb.metadata["course"] = {"budget_seconds": 60}
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, str(path))
    out = subprocess.run([sys.executable, "-m", "course.tools.bench", str(path), "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = json.loads((tmp_path / "b.json").read_text())
    assert rows[0]["notebook"] == "99_tiny" and rows[0]["metrics"][0]["value"] == 42 and rows[0]["metrics"][0]["ok"]
    assert "1 passed, 0 failed" in out.stdout


def test_importing_every_module_has_no_side_effects(tmp_path):
    code = "; ".join(f"import course.{m}" for m in MODULES) + "; import os; print(sorted(os.listdir('.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "[]" and out.stderr == "", out.stdout + out.stderr
