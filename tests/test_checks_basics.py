"""Each check of lessons 01-03 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch

from course import checks_basics as cb


def blank(*args, **kwargs):
    raise NotImplementedError()


def assert_passes(check, fn, capsys):
    assert check(fn), capsys.readouterr().out
    assert "✓" in capsys.readouterr().out


def assert_not_done(check, capsys):
    assert not check(blank)
    assert "not done yet" in capsys.readouterr().out


def assert_hints(check, wrong: dict, capsys):
    for hint, fn in wrong.items():
        assert not check(fn), hint
        out = capsys.readouterr().out
        assert out.startswith("✗") and hint in out, (hint, out)


def test_line_gradients(capsys):
    def solution(x, y, w, b):
        error = w * x + b - y
        return 2 * (error * x).mean(), 2 * error.mean()

    assert_passes(cb.check_line_gradients, solution, capsys)
    assert_passes(cb.check_line_gradients, lambda x, y, w, b: tuple(v.item() for v in solution(x, y, w, b)), capsys)
    assert_not_done(cb.check_line_gradients, capsys)
    assert_hints(cb.check_line_gradients, {
        "sign is flipped": lambda x, y, w, b: tuple(-v for v in solution(x, y, w, b)),
        "half the right size": lambda x, y, w, b: tuple(v / 2 for v in solution(x, y, w, b)),
        "instead of .sum()": lambda x, y, w, b: tuple(v * len(x) for v in solution(x, y, w, b)),
        "missing the factor x": lambda x, y, w, b: (solution(x, y, w, b)[1], solution(x, y, w, b)[1]),
        "return dw, db": lambda x, y, w, b: solution(x, y, w, b)[0],
        "single numbers": lambda x, y, w, b: (2 * (w * x + b - y) * x, 2 * (w * x + b - y)),
    }, capsys)


def test_poly_features(capsys):
    assert_passes(cb.check_poly_features, cb.reference_poly_features, capsys)
    assert_not_done(cb.check_poly_features, capsys)
    assert_hints(cb.check_poly_features, {
        "dim=1": lambda x, d: torch.stack([x**k for k in range(d + 1)]),
        "constant column": lambda x, d: torch.stack([x**k for k in range(1, d + 1)], 1),
        "reverse order": lambda x, d: torch.stack([x**k for k in range(d, -1, -1)], 1),
        "forget `return`": lambda x, d: None,
    }, capsys)
