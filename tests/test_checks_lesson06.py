"""Each check of lesson 06 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch
import torch.nn.functional as F

from course.checks import lesson06
from course.frames import rollout
from course.lstm import conv_lstm_cell, lstm_cell
from exercise_checks import assert_hints, assert_not_done, assert_passes


def _cell(order="ifgo", g_act=torch.tanh, h_act=torch.tanh, update=lambda i, f, g, c: f * c + i * g, hh_bias=True):
    """Return an LSTM cell function written with the given (possibly wrong) choices."""
    def cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        gates = x @ w_ih.T + b_ih + h @ w_hh.T + (b_hh if hh_bias else 0)
        parts = dict(zip(order, gates.chunk(4, 1)))
        i, f, o = torch.sigmoid(parts["i"]), torch.sigmoid(parts["f"]), torch.sigmoid(parts["o"])
        g = g_act(parts["g"])
        c = update(i, f, g, c)
        return o * h_act(c), c
    return cell


def test_lstm_cell(capsys, one_thread):
    check = lesson06.check_lstm_cell
    assert_passes(check, lstm_cell, capsys)
    assert_passes(check, _cell(), capsys)
    assert_not_done(check, capsys)
    assert_hints(check, {
        "forgot the tanh": _cell(h_act=lambda c: c),
        "i, f, g, o": _cell(order="figo"),
        "candidate g takes tanh": _cell(g_act=torch.sigmoid),
        "through the forget gate": _cell(update=lambda i, f, g, c: c + i * g),
        "forgot the old one": _cell(update=lambda i, f, g, c: i * g),
        "the forget gate multiplies the old c": _cell(update=lambda i, f, g, c: i * c + f * g),
        "bias_hh is missing": _cell(hh_bias=False),
        "swapped: return h, c": lambda *a: lstm_cell(*a)[::-1],
        "return h, c": lambda *a: None,
    }, capsys)


def test_conv_lstm_cell(capsys, one_thread):
    check = lesson06.check_conv_lstm_cell

    def no_padding(x, h, c, w, b):
        gates = F.conv2d(torch.cat([x, h], 1), w, b)
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c[..., 1:-1, 1:-1] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def h_first(x, h, c, w, b):
        return conv_lstm_cell(h, x, c, w, b) if False else _conv(torch.cat([h, x], 1), c, w, b)

    def _conv(xh, c, w, b, h_act=torch.tanh):
        i, f, g, o = F.conv2d(xh, w, b, padding=1).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * h_act(c), c

    assert_passes(check, conv_lstm_cell, capsys)
    assert_not_done(check, capsys)
    assert_hints(check, {
        "pad the convolution": no_padding,
        "[x, h]": h_first,
        "bias is missing": lambda x, h, c, w, b: conv_lstm_cell(x, h, c, w, None),
        "forgot the tanh": lambda x, h, c, w, b: _conv(torch.cat([x, h], 1), c, w, b, h_act=lambda t: t),
    }, capsys)


def test_rollout(capsys, one_thread):
    check = lesson06.check_rollout

    def loop(model, context, n_future, feed="own", keep_state=True, n_out=None, with_context=False):
        state, outs = None, []
        for t in range(context.shape[1]):
            frame, state = model.step(context[:, t], state)
            outs.append(frame)
        gen = [frame]
        for _ in range(n_future - 1):
            nxt = frame if feed == "own" else context[:, -1]
            frame, new_state = model.step(nxt, state)
            state = new_state if keep_state else None
            gen.append(frame)
        frames = (outs[:-1] + gen) if with_context else gen
        return torch.stack(frames[: n_out] if n_out else frames, 1)

    def loop_no_state(model, context, n_future):
        state = None
        for t in range(context.shape[1]):
            frame, state = model.step(context[:, t], state)
        gen = [frame]
        for _ in range(n_future - 1):
            frame, _ = model.step(frame, None)
            gen.append(frame)
        return torch.stack(gen, 1)

    def whole_forward(model, context, n_future):
        return model(context)

    assert_passes(check, rollout, capsys)
    assert_passes(check, loop, capsys)
    assert_not_done(check, capsys)
    assert_hints(check, {
        "last true frame again": lambda m, c, n: loop(m, c, n, feed="last"),
        "not the predictions made while reading the context": lambda m, c, n: loop(m, c, n, with_context=True),
        "state is lost": loop_no_state,
        "model.step(frame, state) one frame at a time": whole_forward,
        "did you forget `return`": lambda m, c, n: None,
    }, capsys)
