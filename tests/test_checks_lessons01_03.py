"""Each check of lessons 01-03 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch

from course.data import augment as cb_augment
from course.checks import lesson01, lesson02, lesson03
from course.data import dirty as cb_dirty
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_line_gradients(capsys):
    def solution(x, y, w, b):
        error = w * x + b - y
        return 2 * (error * x).mean(), 2 * error.mean()

    assert_passes(lesson01.check_line_gradients, solution, capsys)
    assert_passes(lesson01.check_line_gradients, lambda x, y, w, b: tuple(v.item() for v in solution(x, y, w, b)), capsys)
    assert_not_done(lesson01.check_line_gradients, capsys)
    assert_hints(lesson01.check_line_gradients, {
        "sign is flipped": lambda x, y, w, b: tuple(-v for v in solution(x, y, w, b)),
        "half the right size": lambda x, y, w, b: tuple(v / 2 for v in solution(x, y, w, b)),
        "instead of .sum()": lambda x, y, w, b: tuple(v * len(x) for v in solution(x, y, w, b)),
        "missing the factor x": lambda x, y, w, b: (solution(x, y, w, b)[1], solution(x, y, w, b)[1]),
        "return dw, db": lambda x, y, w, b: solution(x, y, w, b)[0],
        "single numbers": lambda x, y, w, b: (2 * (w * x + b - y) * x, 2 * (w * x + b - y)),
    }, capsys)


def test_poly_features(capsys):
    assert_passes(lesson01.check_poly_features, lesson01.reference_poly_features, capsys)
    assert_not_done(lesson01.check_poly_features, capsys)
    assert_hints(lesson01.check_poly_features, {
        "dim=1": lambda x, d: torch.stack([x**k for k in range(d + 1)]),
        "constant column": lambda x, d: torch.stack([x**k for k in range(1, d + 1)], 1),
        "reverse order": lambda x, d: torch.stack([x**k for k in range(d, -1, -1)], 1),
        "forget `return`": lambda x, d: None,
    }, capsys)


def test_relu_backward(capsys):
    assert_passes(lesson02.check_relu_backward, lambda g, x: g * (x > 0), capsys)
    assert_not_done(lesson02.check_relu_backward, capsys)
    assert_hints(lesson02.check_relu_backward, {
        "multiply it by the incoming gradient": lambda g, x: (x > 0).float(),
        "applied relu to the gradient": lambda g, x: g.clamp_min(0),
        "not x itself": lambda g, x: g * x.clamp_min(0),
        "x >= 0": lambda g, x: g * (x >= 0),
        "shape": lambda g, x: g.sum(0),
    }, capsys)


def test_softmax_cross_entropy(capsys):
    def stable(logits, y):
        shifted = logits - logits.max(1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(1, keepdim=True).log()
        return -log_probs[torch.arange(len(y)), y].mean()

    def naive(logits, y):
        probs = logits.exp() / logits.exp().sum(1, keepdim=True)
        return -probs[torch.arange(len(y)), y].log().mean()

    assert_passes(lesson02.check_softmax_cross_entropy, stable, capsys)
    assert_not_done(lesson02.check_softmax_cross_entropy, capsys)
    assert_hints(lesson02.check_softmax_cross_entropy, {
        "exp() overflows": naive,
        "sign is flipped": lambda logits, y: -stable(logits, y),
        "instead of .sum()": lambda logits, y: stable(logits, y) * len(y),
        "one loss per row": lambda logits, y: -torch.log_softmax(logits, 1)[torch.arange(len(y)), y],
        "not log_probs[:, y]": lambda logits, y: -torch.log_softmax(logits, 1)[:, y],
        "wrong values": lambda logits, y: -torch.log_softmax(logits, 1)[:, 0].mean(),
    }, capsys)


def test_train_step(capsys):
    def solution(model, xb, yb, loss_fn, opt):
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def no_zero_grad(model, xb, yb, loss_fn, opt):
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    def zero_between(model, xb, yb, loss_fn, opt):
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.zero_grad()
        opt.step()
        return loss.item()

    def returns_tensor(model, xb, yb, loss_fn, opt):
        solution(model, xb, yb, loss_fn, opt)
        return loss_fn(model(xb), yb)

    def no_return(model, xb, yb, loss_fn, opt):
        solution(model, xb, yb, loss_fn, opt)

    assert_passes(lesson02.check_train_step, solution, capsys)
    assert_not_done(lesson02.check_train_step, capsys)
    assert_hints(lesson02.check_train_step, {
        "call opt.zero_grad() before loss.backward() in every step": no_zero_grad,
        "did not change": zero_between,
        "not a Tensor": returns_tensor,
        "returned None": no_return,
        "the loss before the step": lambda *a: solution(*a) * 0 + 9.0,
    }, capsys)


def test_find_exact_duplicates(capsys):
    def marks_all(x):
        keys = [tuple(img.flatten().tolist()) for img in x]
        return torch.tensor([keys.count(k) > 1 for k in keys])

    def indices(x):
        return torch.nonzero(cb_dirty.exact_duplicates(x))[:, 0]

    def near_too(x):
        return torch.tensor([any((x[i] - x[j]).abs().max() < 0.01 for j in range(i)) for i in range(len(x))])

    assert_passes(lesson03.check_find_exact_duplicates, cb_dirty.exact_duplicates, capsys)
    assert_not_done(lesson03.check_find_exact_duplicates, capsys)
    assert_hints(lesson03.check_find_exact_duplicates, {
        "originals too": marks_all,
        "not a list of indices": indices,
        "one grey level": near_too,
        "the mask": lambda x: torch.zeros(3, dtype=torch.bool),
    }, capsys)


def test_channel_mean_std(capsys):
    assert_passes(lesson03.check_channel_mean_std, lambda x: (x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))), capsys)
    assert_passes(lesson03.check_channel_mean_std, lambda x: (x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), unbiased=False)), capsys)
    assert_not_done(lesson03.check_channel_mean_std, capsys)
    assert_hints(lesson03.check_channel_mean_std, {
        "one number for all channels": lambda x: (x.mean(), x.std()),
        "one mean per pixel": lambda x: (x.mean(0), x.std(0)),
        "variance": lambda x: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))),
        "return two tensors": lambda x: x.mean(dim=(0, 2, 3)),
    }, capsys)


def test_rotation_theta(capsys):
    import math

    def in_degrees(d):
        return cb_augment.rotation_theta(d * 180 / math.pi)

    assert_passes(lesson03.check_rotation_theta, cb_augment.rotation_theta, capsys)
    assert_not_done(lesson03.check_rotation_theta, capsys)
    assert_hints(lesson03.check_rotation_theta, {
        "radians": in_degrees,
        "clockwise": lambda d: cb_augment.rotation_theta(-d),
        "third column": lambda d: cb_augment.rotation_theta(d)[:, :, :2],
        "wrong values": lambda d: cb_augment.rotation_theta(d) * 1.1,
    }, capsys)
