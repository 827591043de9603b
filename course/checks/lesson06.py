"""Exercise checks of 06_lstm: the LSTM cell, the ConvLSTM cell and the free rollout."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from course.checks.core import Hint, exercise_check, expect, expect_close, expect_shape, expect_tensor, same_values
from course.frames import FrameGenerator, FrameGeneratorConfig, rollout
from course.lstm import conv_lstm_cell


def _gates(pre: torch.Tensor, order: str = "ifgo", dim: int = 1):
    """Return the four pre-activations (i, f, g, o) cut from `pre` in the given order."""
    parts = dict(zip(order, pre.chunk(4, dim=dim)))
    return parts["i"], parts["f"], parts["g"], parts["o"]


def _lstm_variant(pre: torch.Tensor, c: torch.Tensor, mistake: str = "", dim: int = 1):
    """Return (h, c) of an LSTM step from gate pre-activations, with one typical `mistake` (or none)."""
    i, f, g, o = _gates(pre, {"order_fi": "figo", "order_ifog": "ifog", "order_gifo": "gifo"}.get(mistake, "ifgo"), dim)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if mistake == "g_sigmoid" else torch.tanh(g)
    if mistake == "no_forget":
        c_new = c + i * g
    elif mistake == "no_memory":
        c_new = i * g
    else:
        c_new = f * c + i * g
    h_new = o * c_new if mistake == "no_tanh" else o * torch.tanh(c_new)
    return h_new, c_new


_LSTM_HINTS = {
    "no_tanh": "h should be o * tanh(c): you forgot the tanh on the cell state before the output gate",
    "order_fi": "the input and forget gates are swapped: PyTorch's layout is i, f, g, o (input, forget, candidate, "
                "output), and the forget gate multiplies the old c: c = f * c + i * g",
    "order_ifog": "the gates are cut in the wrong order: PyTorch's layout is i, f, g, o (the candidate g comes third, the output gate o last)",
    "order_gifo": "the gates are cut in the wrong order: PyTorch's layout is i, f, g, o",
    "g_sigmoid": "the candidate g takes tanh, not sigmoid: it proposes values in (-1, 1); only i, f and o are sigmoid gates",
    "no_forget": "the old cell state must pass through the forget gate: c = f * c + i * g",
    "no_memory": "the new cell state forgot the old one: c = f * c + i * g keeps part of the previous c",
}


def _as_pair(out, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if out is None:
        raise Hint(f"{what} returned None: did you forget `return h, c`?")
    expect(isinstance(out, tuple) and len(out) == 2, f"{what} should return a pair (h, c), got {type(out).__name__}")
    return expect_tensor(out[0], "h"), expect_tensor(out[1], "c")


def _diagnose(h: torch.Tensor, c: torch.Tensor, want_h: torch.Tensor, want_c: torch.Tensor, variant) -> None:
    """Raise the hint of the first typical mistake that reproduces (h, c); pass if (h, c) is right."""
    if same_values(h, want_c) and same_values(c, want_h) and not same_values(h, want_h):
        raise Hint("h and c come back swapped: return h, c in that order")
    if same_values(h, want_h) and same_values(c, want_c):
        return
    for mistake, hint in _LSTM_HINTS.items():
        wrong_h, wrong_c = variant(mistake)
        if same_values(h, wrong_h) and same_values(c, wrong_c):
            raise Hint(hint)
    if same_values(c, want_c):
        expect_close(h, want_h, "h = o * tanh(c)")
    expect_close(c, want_c, "c = f * c + i * g")


@exercise_check
def check_lstm_cell(fn: Callable) -> str:
    """Check `fn(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)` returns torch.nn.LSTMCell's (h, c) (06_lstm)."""
    g = torch.Generator().manual_seed(6)
    ref = nn.LSTMCell(3, 4)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g))  # large weights, so each mistake shows
    x, h, c = torch.randn(5, 3, generator=g), torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    weights = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    with torch.no_grad():
        want_h, want_c = ref(x, (h, c))
        got = _as_pair(fn(x, h, c, *weights), "your cell")
        pre = x @ ref.weight_ih.T + ref.bias_ih + h @ ref.weight_hh.T + ref.bias_hh  # (B, 4H)
        for part in got:
            expect_shape(part, (5, 4), "h and c")
        no_hh_bias = x @ ref.weight_ih.T + ref.bias_ih + h @ ref.weight_hh.T
        if same_values(got[1], _lstm_variant(no_hh_bias, c)[1]) and not same_values(got[1], want_c):
            raise Hint("bias_hh is missing: the gates are x @ W_ih.T + b_ih + h @ W_hh.T + b_hh")
        _diagnose(*got, want_h, want_c, lambda m: _lstm_variant(pre, c, m))
    return "Your cell matches torch.nn.LSTMCell."


@exercise_check
def check_conv_lstm_cell(fn: Callable) -> str:
    """Check `fn(x, h, c, weight, bias)` returns the ConvLSTM step's (h, c), each (B, hidden, H, W) (06_lstm)."""
    g = torch.Generator().manual_seed(7)
    x, h, c = torch.randn(2, 3, 6, 5, generator=g), torch.randn(2, 4, 6, 5, generator=g), torch.randn(2, 4, 6, 5, generator=g)
    weight, bias = torch.randn(16, 7, 3, 3, generator=g) * 0.5, torch.randn(16, generator=g)
    with torch.no_grad():
        got = _as_pair(fn(x, h, c, weight, bias), "your ConvLSTM cell")
        want_h, want_c = conv_lstm_cell(x, h, c, weight, bias)
        if got[0].shape[-2:] != want_h.shape[-2:]:
            raise Hint(f"h has shape {tuple(got[0].shape)}, expected {tuple(want_h.shape)}: pad the convolution by "
                       "kernel_size // 2 so the maps keep their size")
        expect_shape(got[0], tuple(want_h.shape), "h")
        expect_shape(got[1], tuple(want_c.shape), "c")
        if same_values(got[0], conv_lstm_cell(x, h, c, weight, None)[0]) and not same_values(got[0], want_h):
            raise Hint("the bias is missing: pass it to F.conv2d(..., bias, padding=...)")
        swapped = torch.nn.functional.conv2d(torch.cat([h, x], 1), weight, bias, padding=1)
        if same_values(got[1], _lstm_variant(swapped, c)[1]):
            raise Hint("concatenate in the order [x, h]: the first C_in input channels of the weight read x")
        pre = torch.nn.functional.conv2d(torch.cat([x, h], 1), weight, bias, padding=1)  # (B, 4 * hidden, H, W)
        _diagnose(*got, want_h, want_c, lambda m: _lstm_variant(pre, c, m, dim=1))
    return "Gates as convolutions, state as feature maps."


class _Recorder(nn.Module):
    """Wrap a model and remember every frame its `step` is fed and every frame it returns."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.fed, self.returned = model, [], []
        self.cfg = model.cfg

    def init_state(self, frame):
        return self.model.init_state(frame)

    def step(self, frame, state=None, most_likely=False):
        self.fed.append(frame.detach().clone())
        out, state = self.model.step(frame, state, most_likely)
        self.returned.append(out.detach().clone())
        return out, state

    def forward(self, *args, **kwargs):
        raise Hint("call model.step(frame, state) one frame at a time, not model(frames): the full forward "
                   "pass is for training, where true frames are available")


@torch.no_grad()
def _rollout_without_state(model: nn.Module, context: torch.Tensor, n_future: int) -> torch.Tensor:
    """Return the rollout of a loop that forgets the state after the context (a typical mistake)."""
    state = None
    for t in range(context.shape[1]):
        frame, state = model.step(context[:, t], state)
    frames = [frame]
    for _ in range(n_future - 1):
        frame, _ = model.step(frame, None)
        frames.append(frame)
    return torch.stack(frames, 1)


@exercise_check
def check_rollout(fn: Callable) -> str:
    """Check `fn(model, context, n_future)` feeds the model its own outputs and returns (B, n_future, C, H, W) (06_lstm)."""
    torch.manual_seed(0)
    model = FrameGenerator(FrameGeneratorConfig(size=8, stages=1, features=4, hidden=4, motion_kernel=3)).eval()
    g = torch.Generator().manual_seed(8)
    context = torch.rand(2, 3, 1, 8, 8, generator=g)
    want = rollout(model, context, 4)
    rec = _Recorder(model)
    got = expect_tensor(fn(rec, context.clone(), 4), "the rollout")
    fed, returned = rec.fed, rec.returned
    expect(len(fed) > 0, "the model never ran: call model.step(frame, state) for each context frame, then on its own outputs")
    if tuple(got.shape) == (2, 6, 1, 8, 8):
        raise Hint("got 6 frames: return only the n_future generated frames, not the predictions made while reading the context")
    if got.ndim == 5 and got.shape[1] in (3, 5) and got.shape[0] == 2:
        raise Hint(f"got {got.shape[1]} frames, expected n_future = 4: the output after the last context frame is "
                   "already the first generated frame")
    expect_shape(got, (2, 4, 1, 8, 8), "the rollout")
    for t in range(min(3, len(fed))):
        expect(same_values(fed[t], context[:, t]), f"step {t} should read context frame {t}: read the context in order")
    if len(fed) > 3 and same_values(fed[3], context[:, -1]):
        raise Hint("after the context you fed the last true frame again: feed the model its own output, frame = model.step(frame, state)[0]")
    if len(fed) > 4 and all(same_values(f, fed[3]) for f in fed[4:]):
        raise Hint("you feed the same frame at every step: after each step, the frame you feed next is the one the model just returned")
    for t in range(3, len(fed)):
        expect(same_values(fed[t], returned[t - 1]), f"input {t} is not the model's previous output: free rollout feeds "
                                                       "every generated frame back in, and never a true frame")
    if not same_values(got, want, atol=1e-5):
        if same_values(got, _rollout_without_state(model, context, 4)):
            raise Hint("the state is lost between steps: pass the state each step returns into the next call")
        expect(len(fed) == 6, f"the model was stepped {len(fed)} times, expected 3 context + 3 generated = 6 steps")
        raise Hint("the frames differ from the reference rollout: keep the state from step to step, and "
                   "stack the generated frames along dim=1")
    return "No ground truth leaks in."
