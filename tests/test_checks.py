import torch

from course.checks.lesson00 import check_class_means, reference_class_means


def test_passes_on_the_solution(capsys):
    assert check_class_means(lambda x, y, n: torch.stack([x[y == c].mean(0) for c in range(n)]))
    assert "✓ class_means" in capsys.readouterr().out


def test_blank_exercise_says_not_done(capsys):
    def blank(x, y, n):
        raise NotImplementedError()

    assert not check_class_means(blank)
    assert "not done yet" in capsys.readouterr().out


def test_typical_wrong_answers_get_specific_hints(capsys):
    wrong = {
        "sums, not means": lambda x, y, n: torch.stack([x[y == c].sum(0) for c in range(n)]),
        "too many dimensions": lambda x, y, n: x.mean(0),
        "same image": lambda x, y, n: x.mean(0, keepdim=True).repeat(n, 1, 1, 1),
        "forget `return`": lambda x, y, n: None,
        "raised IndexError": lambda x, y, n: x[100],
        "wrong values": lambda x, y, n: reference_class_means(x, y, n) + 0.01 * torch.arange(n)[:, None, None, None],
    }
    for hint, fn in wrong.items():
        assert not check_class_means(fn)
        out = capsys.readouterr().out
        assert out.startswith("✗") and hint in out, (hint, out)
