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


def test_descend(capsys):
    def solution(phi, y, lr, n_steps):
        w, losses = torch.zeros(phi.shape[1]), []
        for step in range(n_steps):
            error = phi @ w - y
            losses.append((error**2).mean().item())
            w = w - lr * 2 / len(y) * phi.T @ error
        return w, losses

    def variant(sign=1.0, factor=2.0, extra=0, loss_after=False):
        def fn(phi, y, lr, n_steps):
            w, losses = torch.zeros(phi.shape[1]), []
            for step in range(n_steps + extra):
                error = phi @ w - y
                if not loss_after:
                    losses.append((error**2).mean().item())
                w = w - sign * lr * factor / len(y) * phi.T @ error
                if loss_after:
                    losses.append(((phi @ w - y) ** 2).mean().item())
            return w, losses[:n_steps]
        return fn

    assert_passes(lesson01.check_descend, solution, capsys)
    assert_passes(lesson01.check_descend, lesson01.reference_descend, capsys)
    assert_not_done(lesson01.check_descend, capsys)
    assert_hints(lesson01.check_descend, {
        "went uphill": variant(sign=-1.0),
        "factor 2": variant(factor=1.0),
        "off by one": variant(extra=1),
        "record the loss before updating": variant(loss_after=True),
        "one loss per step": lambda phi, y, lr, n: (solution(phi, y, lr, n)[0], solution(phi, y, lr, n)[1][-1]),
        "return two things": lambda phi, y, lr, n: solution(phi, y, lr, n)[0],
        "returned None": lambda phi, y, lr, n: None,
    }, capsys)


def test_descend_autograd(capsys):
    def variant(zero_grad=True, no_grad=True, in_place=True, detach=True, sign=1.0):
        def fn(phi, y, lr, n_steps):
            w = torch.zeros(phi.shape[1], requires_grad=True)
            for step in range(n_steps):
                ((phi @ w - y) ** 2).mean().backward()
                if no_grad:
                    with torch.no_grad():
                        if in_place:
                            w -= sign * lr * w.grad
                        else:
                            w = w - lr * w.grad
                else:
                    w -= lr * w.grad
                if zero_grad:
                    w.grad.zero_()
            return w.detach() if detach else w
        return fn

    assert_passes(lesson01.check_descend_autograd, variant(), capsys)
    assert_passes(lesson01.check_descend_autograd, lesson01.reference_descend_autograd, capsys)
    assert_not_done(lesson01.check_descend_autograd, capsys)
    assert_hints(lesson01.check_descend_autograd, {
        "w.grad.zero_()": variant(zero_grad=False),
        "inside `with torch.no_grad():`": variant(no_grad=False),
        "update in place": variant(in_place=False, zero_grad=False),
        "w.detach()": variant(detach=False),
        "went uphill": variant(sign=-1.0),
        "never moved": lambda phi, y, lr, n: torch.zeros(phi.shape[1]),
    }, capsys)


def test_linear_backward(capsys):
    from course.mlp import linear_backward

    assert_passes(lesson02.check_linear_backward, linear_backward, capsys)
    assert_not_done(lesson02.check_linear_backward, capsys)
    assert_hints(lesson02.check_linear_backward, {
        "the transpose of the weight": lambda g, x, w: (g @ w, x.T @ g, g.sum(0)),
        "grad_bias is averaged": lambda g, x, w: (g @ w, g.T @ x, g.mean(0)),
        "grad_bias has one row per example": lambda g, x, w: (g @ w, g.T @ x, g),
        "grad_weight is averaged": lambda g, x, w: (g @ w, g.T @ x / len(x), g.sum(0)),
        "one matrix per example": lambda g, x, w: (g @ w, g[:, :, None] * x[:, None, :], g.sum(0)),
        "shapes do not fit": lambda g, x, w: (g @ w.T, g.T @ x, g.sum(0)),
        "grad_x is divided": lambda g, x, w: (g @ w / len(x), g.T @ x, g.sum(0)),
        "return three tensors": lambda g, x, w: (g @ w, g.T @ x),
    }, capsys)


def _mlp_backward(order=reversed, pass_on=True, keys="layers.{i}.{name}"):
    def fn(layers, inputs, grad_logits):
        grads, grad = {}, grad_logits
        for i in order(range(len(layers))):
            grad_in, param_grads = layers[i].backward(inputs[i], grad)
            grad = grad_in if pass_on else grad
            grads.update({keys.format(i=i, name=name): g for name, g in param_grads.items()})
        return grads
    return fn


def test_mlp_backward(capsys):
    def weights_only(layers, inputs, grad_logits):
        return {k: v for k, v in _mlp_backward()(layers, inputs, grad_logits).items() if k.endswith("weight")}

    def first_layer_zero(layers, inputs, grad_logits):
        grads = _mlp_backward()(layers, inputs, grad_logits)
        return {**grads, "layers.0.weight": torch.zeros_like(grads["layers.0.weight"])}

    assert_passes(lesson02.check_mlp_backward, _mlp_backward(), capsys)
    assert_not_done(lesson02.check_mlp_backward, capsys)
    assert_hints(lesson02.check_mlp_backward, {
        "from the LAST to the first": _mlp_backward(order=list),
        "shapes do not fit": _mlp_backward(pass_on=False),
        "named like model.named_parameters()": _mlp_backward(keys="{i}.{name}"),
        "every Linear layer has a weight and a bias": weights_only,
        "pass the gradient each layer returns": first_layer_zero,
        "return a dict": lambda layers, inputs, g: list(_mlp_backward()(layers, inputs, g).values()),
    }, capsys)


def test_out_of_fold_probs(capsys):
    import torch.nn.functional as F

    def solution(x, y, fit_predict, n_folds, generator, train_on=lambda fold, k: fold != k, judge=lambda fold, k: fold == k,
                 to_probs=lambda logits: F.softmax(logits, dim=1)):
        fold = torch.randperm(len(x), generator=generator) % n_folds
        probs = torch.zeros(len(x), int(y.max()) + 1)
        for k in range(n_folds):
            probs[judge(fold, k)] = to_probs(fit_predict(x[train_on(fold, k)], y[train_on(fold, k)], x[judge(fold, k)]))
        return probs

    def in_order(x, y, fit_predict, n_folds, generator):
        fold = torch.randperm(len(x), generator=generator) % n_folds
        return torch.cat([F.softmax(fit_predict(x[fold != k], y[fold != k], x[fold == k]), 1) for k in range(n_folds)])

    def one_model(x, y, fit_predict, n_folds, generator):
        return F.softmax(fit_predict(x, y, x), dim=1)

    assert_passes(lesson03.check_out_of_fold_probs, solution, capsys)
    assert_passes(lesson03.check_out_of_fold_probs, lesson03.reference_out_of_fold_probs, capsys)
    assert_not_done(lesson03.check_out_of_fold_probs, capsys)
    assert_hints(lesson03.check_out_of_fold_probs, {
        "trained on it": lambda *a: solution(*a, train_on=lambda fold, k: fold >= 0),
        "judged exactly once": lambda *a: solution(*a, train_on=lambda fold, k: fold == k, judge=lambda fold, k: fold != k),
        "ALL the images outside": lambda *a: solution(*a, train_on=lambda fold, k: fold == (k + 1) % 4),
        "these are logits": lambda *a: solution(*a, to_probs=lambda logits: logits),
        "summing to 1": lambda *a: solution(*a, to_probs=lambda logits: F.softmax(logits, dim=0)),
        "in its own place": in_order,
        "called 1 times": one_model,
    }, capsys)
