"""Binder's files (binder/) agree with the top-level environment.yml and with what docs/teachers.md says of them."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conda_dependencies(path: str) -> list[str]:
    """Return the entries of an environment file's `dependencies:` list, in order (a nested pip list left out)."""
    text = open(os.path.join(ROOT, path), encoding="utf-8").read().split("dependencies:")[1]
    return re.findall(r"^  - (\S.*?)\s*$", text, re.M)


def test_binder_environment_is_the_top_level_one_with_one_python_and_no_pip_install():
    top, binder = conda_dependencies("environment.yml"), conda_dependencies(os.path.join("binder", "environment.yml"))
    assert top[0].startswith("python>=") and binder[0] == "python=3.11"  # Binder accepts no version range
    low, high = re.match(r"python>=([\d.]+),<([\d.]+)", top[0]).groups()
    assert tuple(map(int, low.split("."))) <= (3, 11) < tuple(map(int, high.split(".")))
    assert top[-1] == "pip:"  # its nested list is `- -e .`, which Binder cannot run before the checkout
    assert binder[1:] == top[1:-1], "binder/environment.yml must list the top-level environment.yml's packages"


def test_binder_post_build_installs_the_package_from_the_checkout():
    path = os.path.join(ROOT, "binder", "postBuild")
    script = open(path, encoding="utf-8").read()
    assert script.startswith("#!") and os.access(path, os.X_OK)
    assert "python -m pip install --no-deps -e ." in script


def test_teachers_guide_describes_the_binder_files():
    guide = open(os.path.join(ROOT, "docs", "teachers.md"), encoding="utf-8").read()
    assert "binder/environment.yml" in guide and "binder/postBuild" in guide
