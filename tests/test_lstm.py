"""The recurrent cells of course.lstm against PyTorch's, and the frame generator of course.frames."""
import pytest
import torch
from torch import nn

from course.frames import (FrameGenerator, FrameGeneratorConfig, centre_of_mass, copy_last,
                           digit_crops, frame_loss, move_by_kernel, per_horizon_mse, position_error, rollout, sampling_probability,
                           train_step)
from course.lstm import ConvLSTMCell, LSTMCell, RNNCell, conv_lstm_cell, input_gradient_norms

TINY = FrameGeneratorConfig(size=8, stages=1, features=4, hidden=4, motion_kernel=3, n_context=3, n_future=2)


def test_lstm_cell_equals_torch_forward_and_gradients(one_thread):
    torch.manual_seed(0)
    ours, ref = LSTMCell(3, 5), nn.LSTMCell(3, 5)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours, name).copy_(getattr(ref, name))
    x, h, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    h1, c1 = ours(x, (h, c))
    h2, c2 = ref(x, (h, c))
    assert torch.allclose(h1, h2, atol=1e-5) and torch.allclose(c1, c2, atol=1e-5)
    (h1.pow(2).sum() + c1.sum()).backward()
    (h2.pow(2).sum() + c2.sum()).backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert torch.allclose(getattr(ours, name).grad, getattr(ref, name).grad, atol=1e-5), name


def test_lstm_cell_starts_from_zeros_and_rejects_bad_input():
    cell = LSTMCell(3, 5)
    h, c = cell(torch.randn(2, 3))
    assert h.shape == c.shape == (2, 5)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        cell(torch.randn(2, 4))


def test_conv_lstm_cell_shapes_and_equals_lstm_cell_for_1x1_kernels(one_thread):
    cell = ConvLSTMCell(3, 6, kernel_size=3)
    h, c = cell(torch.randn(2, 3, 7, 5))
    assert h.shape == c.shape == (2, 6, 7, 5)
    h, c = cell(torch.randn(2, 3, 7, 5), (h, c))
    assert h.shape == c.shape == (2, 6, 7, 5)
    # A 1x1 ConvLSTM is an LSTM cell at every pixel (one bias instead of two).
    w, b = torch.randn(8, 5, 1, 1), torch.randn(8)
    x, hh, cc = torch.randn(2, 3, 4, 4), torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    got_h, got_c = conv_lstm_cell(x, hh, cc, w, b)
    ref = nn.LSTMCell(3, 2)
    flat = lambda t: t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])  # (B*H*W, C)
    with torch.no_grad():
        ref.weight_ih.copy_(w[:, :3, 0, 0]), ref.weight_hh.copy_(w[:, 3:, 0, 0]), ref.bias_ih.copy_(b), ref.bias_hh.zero_()
        want_h, want_c = ref(flat(x), (flat(hh), flat(cc)))
    assert torch.allclose(flat(got_h), want_h, atol=1e-5) and torch.allclose(flat(got_c), want_c, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 6, kernel_size=4)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        cell(torch.randn(2, 4, 7, 5))


def test_gradients_vanish_through_a_contracting_rnn_but_not_an_lstm_with_open_forget_gates():
    torch.manual_seed(0)
    x = torch.randn(8, 40, 4)
    rnn = input_gradient_norms(RNNCell(4, 16, recurrent_scale=0.5), x)
    assert rnn.shape == (40,) and rnn[-1] < 1e-6 * rnn[0]
    lstm = LSTMCell(4, 16)
    with torch.no_grad():
        lstm.bias_ih[16:32] = 3.0  # forget gates nearly 1
    norms = input_gradient_norms(lstm, x)
    assert norms[-1] > 1e-3 * norms[0]


def test_frame_generator_shapes_for_both_outputs(one_thread):
    frames = torch.rand(2, 5, 1, 8, 8)
    for output in ("kernel", "frame"):
        model = FrameGenerator(FrameGeneratorConfig(**{**TINY.__dict__, "output": output}))
        pred = model(frames)
        assert pred.shape == (2, 4, 1, 8, 8) and pred.min() >= 0 and pred.max() <= 1
        assert rollout(model, frames[:, :3], 4).shape == (2, 4, 1, 8, 8)
    with pytest.raises(ValueError, match="frames must be"):
        model(frames[0])
    with pytest.raises(ValueError, match=r"frames\[:, t\]"):
        model.step(frames)
    with pytest.raises(ValueError, match="output must be"):
        FrameGenerator(FrameGeneratorConfig(output="pixels"))


def test_a_one_hot_kernel_shifts_a_frame():
    frame = torch.zeros(1, 1, 5, 5)
    frame[0, 0, 2, 2] = 1.0
    kernel = torch.zeros(1, 9)
    kernel[:, 3] = 1.0  # every pixel takes its value from its left neighbour: a move right
    moved = move_by_kernel(frame, kernel)
    assert moved[0, 0, 2, 3] == 1.0 and moved.sum() == 1.0
    with pytest.raises(ValueError, match="K\\*K"):
        move_by_kernel(frame, torch.ones(1, 8))


def test_rollout_does_not_read_the_future(one_thread):
    torch.manual_seed(0)
    model = FrameGenerator(TINY).eval()
    frames = torch.rand(2, 5, 1, 8, 8)
    other = frames.clone()
    other[:, 3:] = torch.rand(2, 2, 1, 8, 8)  # different future, same context
    with torch.no_grad():
        free = model(frames, p_own=1.0)[:, 2:]  # training forward with own outputs only
        free_other = model(other, p_own=1.0)[:, 2:]
    assert torch.allclose(free, free_other)
    assert torch.allclose(free, rollout(model, frames[:, :3], 2), atol=1e-6)
    with pytest.raises(ValueError, match="context must be"):
        rollout(model, frames[0], 2)


def test_single_batch_overfit(one_thread):
    torch.manual_seed(0)
    cfg = FrameGeneratorConfig(size=8, stages=1, features=4, hidden=4, motion_kernel=3, n_context=2, n_future=2)
    model = FrameGenerator(cfg)
    xb = torch.zeros(2, 4, 1, 8, 8)
    for t in range(4):
        xb[:, t, 0, 3, 1 + t] = 1.0  # a dot moving right one pixel per frame
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    first = train_step(model, opt, xb, 0.0)["loss"]
    for _ in range(20):
        last = train_step(model, opt, xb, 0.0)["loss"]
    assert last < 0.3 * first


def test_sampling_probability_ramps_from_teacher_forcing_to_own_outputs():
    assert sampling_probability(0, 10, 20) == 0.0
    assert sampling_probability(10, 10, 20) == 0.0
    assert sampling_probability(20, 10, 20) == 0.5
    assert sampling_probability(100, 10, 20) == 1.0
    assert sampling_probability(5, 5, 0) == 1.0


def test_metrics_known_values():
    true = torch.zeros(2, 3, 1, 9, 9)
    true[:, :, 0, 4, 4] = 1.0
    shifted = torch.roll(true, 3, dims=-1)  # 3 pixels to the right
    assert torch.allclose(centre_of_mass(true[0, 0]), torch.tensor([4.0, 4.0]))
    assert torch.allclose(position_error(shifted, true), torch.full((3,), 3.0))
    assert torch.allclose(per_horizon_mse(true, true), torch.zeros(3))
    assert torch.allclose(per_horizon_mse(shifted, true), torch.full((3,), 2 / 81))
    assert copy_last(true, 4).shape == (2, 4, 1, 9, 9)
    assert digit_crops(true[:, 0], patch=4).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="same shape"):
        per_horizon_mse(true, true[:, :2])
    with pytest.raises(ValueError, match="'bce' or 'mse'"):
        frame_loss(true, true, "l1")
