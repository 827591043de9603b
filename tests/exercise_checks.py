"""Helpers for the tests of the exercise checks (course.checks.lessonNN): a blank exercise, and what a check must print."""


def blank(*args, **kwargs):
    """An exercise left as the student notebook hands it out."""
    raise NotImplementedError()


def assert_passes(check, fn, capsys):
    """Assert that `check` accepts `fn` and prints a ✓ line."""
    ok = check(fn)
    out = capsys.readouterr().out
    assert ok and out.startswith("✓"), out


def assert_not_done(check, capsys):
    """Assert that `check` says "not done yet" for a blank exercise."""
    assert not check(blank)
    assert "not done yet" in capsys.readouterr().out


def assert_hints(check, wrong: dict, capsys):
    """Assert that `check` rejects each wrong function and that its ✗ line contains the hint it is keyed by."""
    for hint, fn in wrong.items():
        assert not check(fn), hint
        out = capsys.readouterr().out
        assert out.startswith("✗") and hint in out, (hint, out)
