"""Student versions: `python -m course.tools.student` writes notebooks/ from solutions/ (what `make notebooks` runs).

Each `# BEGIN SOLUTION` ... `# END SOLUTION` block becomes `# YOUR CODE HERE` and
`raise NotImplementedError()`, as nbgrader does, and outputs are cleared. The Colab badge and
setup cell of both versions are written from the repository URL in pyproject.toml.
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


def student_version(solution, name: str, url: str):
    """Return the student notebook made from a solution notebook: answers stubbed, outputs cleared."""
    nb = copy.deepcopy(solution)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{name} cell {i}")
            cell.outputs, cell.execution_count = [], None
    return with_colab_cells(nb, f"notebooks/{name}", url)


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    changed = build(check=args.check)
    for path in changed:
        print(("out of date: " if args.check else "wrote ") + path)
    if args.check and changed:
        print("run `make notebooks` to regenerate them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
