"""The Colab setup cell, run as Colab would run it: with a `google.colab` module present.

The cell's pip command is captured (Colab would run it against GitHub) and checked against the
repository named in pyproject.toml; the package data Colab needs is checked in pyproject.toml.
"""
import glob
import json
import os
import re
import subprocess
import sys
import types

from course.tools.student import PACKAGE, ROOT, repo_url, setup_source


def setup_cells() -> dict[str, str]:
    cells = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        nb = json.load(open(path))
        tagged = [c for c in nb["cells"] if "colab-setup" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path}: expected one cell tagged colab-setup, found {len(tagged)}"
        cells[os.path.basename(path)] = "".join(tagged[0]["source"])
    return cells


def test_every_student_notebook_has_the_same_setup_cell():
    expected = setup_source(repo_url())
    assert all(source == expected for source in setup_cells().values())


def test_setup_cell_does_nothing_off_colab(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(setup_source(repo_url()), {})
    assert calls == []


def test_setup_cell_on_colab_installs_this_repository(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kwargs: calls.append((cmd, kwargs)))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(setup_source(repo_url()), {})
    (cmd, kwargs), = calls
    assert cmd[0] == sys.executable and cmd[1:5] == ["-m", "pip", "install", "-q"] and kwargs == {"check": True}
    assert cmd[5] == f"{PACKAGE} @ git+{repo_url()}"


def test_the_package_ships_what_colab_needs():
    """A pip install (what the setup cell does) carries the judges' weights: they are package data."""
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        text = f.read()  # (tomllib is Python 3.11+; the package supports 3.10)
    assert f'name = "{PACKAGE}"' in text
    assert re.search(r'^\[tool\.setuptools\.package-data\]\s*\ncourse = \["weights/\*\.pt"\]', text, re.M)
