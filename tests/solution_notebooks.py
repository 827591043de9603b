"""Helpers for tests that read the solution notebooks' code: its cells, or one function a lesson writes out."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_cells(lesson: str) -> list[str]:
    """Return the source of each code cell of solutions/<lesson>.ipynb, in order."""
    with open(os.path.join(ROOT, "solutions", f"{lesson}.ipynb")) as f:
        return ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]


def notebook_function(lesson: str, name: str) -> str:
    """Return the source of the function `name` as lesson `lesson`'s solution notebook defines it."""
    (cell,) = [c for c in code_cells(lesson) if f"def {name}(" in c]
    start = cell.index(f"def {name}(")
    end = cell.find("\n\n\n", start)  # the function ends at the first two blank lines after it
    return cell[start:] if end < 0 else cell[start:end]
