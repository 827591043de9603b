"""Student versions: `python -m course.tools.student` writes notebooks/ from solutions/ (what `make notebooks` runs).

Each `# BEGIN SOLUTION` ... `# END SOLUTION` block becomes `# YOUR CODE HERE` and
`raise NotImplementedError()`, as nbgrader does; outputs and the saved widget state are cleared.
The Colab badge and setup cell of both versions are written from the repository URL in pyproject.toml.

`python -m course.tools.student --grading DIR` (what `make grading` runs) writes an nbgrader course
folder instead: DIR/source/<lesson>/<lesson>.ipynb, the solutions with nbgrader's cell metadata (answer
cells are solution cells, check cells are autograder tests worth one point per check) and the badge
pointing at notebooks/. A check cell's hidden test turns on strict checks, so when nbgrader autogrades,
a ✗ raises and the cell scores 0; students see the lenient ✓/✗ cell as in notebooks/.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import re
import sys

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
PACKAGE = "generative-images-from-scratch"


def repo_url(pyproject: str = os.path.join(ROOT, "pyproject.toml")) -> str:
    """Return the Repository URL from pyproject.toml's [project.urls] (the one place it lives)."""
    with open(pyproject) as f:
        match = re.search(r'^Repository\s*=\s*"([^"]+)"', f.read(), re.M)
    if not match:
        raise ValueError(f"{pyproject} has no Repository entry under [project.urls]")
    return match.group(1).rstrip("/")


def badge_source(notebook_path: str, url: str) -> str:
    """Return the markdown of the Open-in-Colab badge for a notebook path inside the repository."""
    slug = url.split("github.com/")[-1]
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{slug}/blob/main/{notebook_path})")


def setup_source(url: str) -> str:
    """Return the setup cell: installs the course package on Colab, does nothing elsewhere."""
    return (
        "# Setup: on Colab this installs the course package (about a minute); elsewhere it does nothing.\n"
        "import subprocess, sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"{PACKAGE} @ git+{url}\"], check=True)"
    )


def strip_solutions(source: str, where: str = "cell") -> str:
    """Return `source` with each solution block replaced by a NotImplementedError stub at the same indent."""
    out, inside, indent = [], False, ""
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: nested {BEGIN}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            if not indent:
                raise ValueError(f"{where}: put each solution inside a function body, so the student "
                                 "notebook still runs top to bottom with the exercise left blank")
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def _set_tagged(nb, tag: str, cell_type: str, source: str, position: int) -> None:
    for cell in nb.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            cell.source = source
            return
    new = nbformat.v4.new_markdown_cell(source) if cell_type == "markdown" else nbformat.v4.new_code_cell(source)
    new.metadata["tags"] = [tag]
    new.pop("id", None)
    nb.cells.insert(position, new)


def with_colab_cells(nb, notebook_path: str, url: str):
    """Return `nb` with its badge (first cell) and setup cell (second) written from `url`."""
    _set_tagged(nb, "colab-badge", "markdown", badge_source(notebook_path, url), 0)
    _set_tagged(nb, "colab-setup", "code", setup_source(url), 1)
    return nb


def _clear_run_state(nb) -> None:
    """Drop what the solution run left behind: outputs, counts, timings and the saved widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)


def student_version(solution, name: str, url: str):
    """Return the student notebook made from a solution notebook: answers stubbed, outputs and widget state cleared."""
    nb = copy.deepcopy(solution)
    _clear_run_state(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{name} cell {i}")
    return with_colab_cells(nb, f"notebooks/{name}", url)


# nbgrader (schema 3) cell metadata; see nbgrader's docs, "Developer notes: metadata".
CHECK_CALL = re.compile(r"^\s*(?:assert\s+)?(check_\w+)\(", re.M)
STRICT_HIDDEN_TEST = (
    "### BEGIN HIDDEN TESTS\n"
    "import os; os.environ[\"COURSE_STRICT_CHECKS\"] = \"1\"  # graded: a failing check raises, the cell scores 0\n"
    "### END HIDDEN TESTS\n"
)


def _nbgrader(grade_id: str, solution: bool = False, grade: bool = False, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def is_check_cell(source: str) -> bool:
    """Return True for an exercise-check cell: it imports from course.checks and calls check_...(...)."""
    return "course.checks" in source and bool(CHECK_CALL.search(source))


def grading_version(solution, name: str, url: str):
    """Return the nbgrader source notebook made from a solution notebook.

    Answer cells (with `# BEGIN SOLUTION`) become solution cells; check cells become autograder
    tests worth one point per check they call, with a hidden test that makes the checks strict;
    outputs and widget state are cleared and the badge points at the student version in notebooks/.
    """
    nb = copy.deepcopy(solution)
    _clear_run_state(nb)
    with_colab_cells(nb, f"notebooks/{name}", url)
    used: set[str] = set()

    def unique(grade_id: str) -> str:
        base, n = grade_id, 2
        while grade_id in used:
            grade_id, n = f"{base}-{n}", n + 1
        used.add(grade_id)
        return grade_id

    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        strip_solutions(cell.source, f"{name} cell {i}")  # same rules as the student version
        if BEGIN in cell.source:
            defs = re.findall(r"^def (\w+)", cell.source, re.M)
            cell.metadata["nbgrader"] = _nbgrader(unique(defs[-1] if defs else f"answer-{i:03d}"), solution=True)
        elif is_check_cell(cell.source):
            checks = CHECK_CALL.findall(cell.source)
            cell.source = STRICT_HIDDEN_TEST + cell.source
            cell.metadata["nbgrader"] = _nbgrader(unique(checks[0]), grade=True, points=len(checks))
    return nb


def write_grading(folder: str, root: str = ROOT) -> list[str]:
    """Write an nbgrader source folder, FOLDER/source/<lesson>/<lesson>.ipynb, one assignment per lesson; return the paths."""
    url = repo_url(os.path.join(root, "pyproject.toml"))
    written = []
    for path in sorted(glob.glob(os.path.join(root, "solutions", "[0-9][0-9]_*.ipynb"))):
        name = os.path.basename(path)
        nb = grading_version(nbformat.read(path, as_version=4), name, url)
        _normalise_ids(nb)
        target = os.path.join(folder, "source", name[: -len(".ipynb")], name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(nbformat.writes(nb) + "\n")
        written.append(target)
    return written


def _normalise_ids(nb) -> None:
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"


def build(check: bool = False, root: str = ROOT) -> list[str]:
    """Refresh the Colab cells of solutions/ and write notebooks/; return the files that were (or would be) changed."""
    url = repo_url(os.path.join(root, "pyproject.toml"))
    changed = []
    for path in sorted(glob.glob(os.path.join(root, "solutions", "[0-9][0-9]_*.ipynb"))):
        name = os.path.basename(path)
        solution = nbformat.read(path, as_version=4)
        refreshed = with_colab_cells(copy.deepcopy(solution), f"solutions/{name}", url)
        _normalise_ids(refreshed)
        student = student_version(refreshed, name, url)
        for target, nb in ((path, refreshed), (os.path.join(root, "notebooks", name), student)):
            text = nbformat.writes(nb) + "\n"
            current = open(target).read() if os.path.exists(target) else None
            if text != current:
                changed.append(os.path.relpath(target, root))
                if not check:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "w") as f:
                        f.write(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("--grading", metavar="DIR", help="write an nbgrader course folder (DIR/source/<lesson>/) instead")
    args = parser.parse_args(argv)
    if args.grading:
        for path in write_grading(args.grading):
            print("wrote " + path)
        print(f"next: cd {args.grading} && nbgrader generate_assignment <lesson>, e.g. 00_start_here (see docs/teachers.md)")
        return 0
    changed = build(check=args.check)
    for path in changed:
        print(("out of date: " if args.check else "wrote ") + path)
    if args.check and changed:
        print("run `make notebooks` to regenerate them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
