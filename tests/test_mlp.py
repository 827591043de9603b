"""The from-scratch pieces of course.mlp against PyTorch's own: forward values and autograd gradients."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.mlp import (MLP, Linear, MLPConfig, ReLU, hand_gradients, log_softmax, relu_backward, softmax,
                       softmax_cross_entropy, softmax_cross_entropy_backward)


def test_linear_matches_nn_linear_forward_and_backward():
    torch.manual_seed(0)
    ref = nn.Linear(5, 3)
    ours = Linear(5, 3)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 5, requires_grad=True)
    out = ref(x)
    assert torch.allclose(ours(x), out, atol=1e-6)
    grad_out = torch.randn(4, 3)
    out.backward(grad_out)
    grad_x, grads = ours.backward(x.detach(), grad_out)
    assert torch.allclose(grad_x, x.grad, atol=1e-6)
    assert torch.allclose(grads["weight"], ref.weight.grad, atol=1e-6)
    assert torch.allclose(grads["bias"], ref.bias.grad, atol=1e-6)


def test_linear_init_has_nn_linear_scale():
    w = Linear(400, 50, torch.Generator().manual_seed(0)).weight
    assert w.abs().max() <= 1 / 20 and w.std().item() == pytest.approx(nn.Linear(400, 50).weight.std().item(), rel=0.1)


def test_relu_backward_matches_autograd():
    x = torch.randn(6, 7, requires_grad=True)
    grad_out = torch.randn(6, 7)
    F.relu(x).backward(grad_out)
    assert torch.equal(relu_backward(grad_out, x.detach()), x.grad)
    assert torch.equal(ReLU()(x.detach()), F.relu(x.detach()))


def test_softmax_cross_entropy_matches_pytorch_and_is_stable():
    logits = torch.randn(8, 10, dtype=torch.float64) * 3
    y = torch.randint(10, (8,))
    assert torch.allclose(softmax(logits), F.softmax(logits, -1))
    assert torch.allclose(log_softmax(logits), F.log_softmax(logits, -1))
    assert torch.allclose(softmax_cross_entropy(logits, y), F.cross_entropy(logits, y))
    huge = torch.tensor([[1000.0, 0.0, -1000.0]])
    assert torch.isfinite(softmax_cross_entropy(huge, torch.tensor([2]))).all()
    assert softmax_cross_entropy(huge, torch.tensor([2])).item() == pytest.approx(2000.0)


def test_softmax_cross_entropy_backward_matches_autograd():
    logits = torch.randn(5, 4, requires_grad=True)
    y = torch.tensor([0, 3, 1, 1, 2])
    F.cross_entropy(logits, y).backward()
    assert torch.allclose(softmax_cross_entropy_backward(logits.detach(), y), logits.grad, atol=1e-6)


def test_mlp_shapes_and_hand_backprop_equals_autograd():
    cfg = MLPConfig(n_in=12, hidden=(8, 6), n_classes=3)
    model = MLP(cfg)
    x, y = torch.randn(5, 1, 3, 4), torch.tensor([0, 1, 2, 1, 0])
    assert model(x).shape == (5, 3)
    loss, grads = hand_gradients(model, x, y)
    auto_loss = F.cross_entropy(model(x), y)
    auto_loss.backward()
    assert loss == pytest.approx(auto_loss.item(), abs=1e-6)
    assert set(grads) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        assert torch.allclose(grads[name], p.grad, atol=1e-6), name


def test_mlp_init_is_deterministic_per_seed():
    a, b, c = MLP(MLPConfig(seed=1)), MLP(MLPConfig(seed=1)), MLP(MLPConfig(seed=2))
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_mlp_overfits_one_batch(one_thread):
    torch.manual_seed(0)
    model = MLP(MLPConfig(n_in=16, hidden=(32,), n_classes=4))
    x, y = torch.randn(16, 16), torch.arange(16) % 4
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 and (model(x).argmax(1) == y).all()
