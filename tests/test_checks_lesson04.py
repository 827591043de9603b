"""Each check of lesson 04 passes on the solution, says "not done yet" on a blank, and names typical mistakes."""
import torch
import torch.nn.functional as F
from torch import nn

from course.checks import lesson04
from course.cnn import CNN
from course.conv import conv2d_im2col, maxpool2d
from exercise_checks import assert_hints, assert_not_done, assert_passes


def test_conv2d_im2col(capsys):
    def with_f_unfold(x, weight, bias=None, stride=1, padding=0):
        b, _, h, w = x.shape
        c_out, _, k, _ = weight.shape
        out = weight.reshape(c_out, -1) @ F.unfold(x, k, stride=stride, padding=padding)
        if bias is not None:
            out = out + bias[:, None]
        return out.reshape(b, c_out, (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)

    assert_passes(lesson04.check_conv2d_im2col, conv2d_im2col, capsys)
    assert_passes(lesson04.check_conv2d_im2col, with_f_unfold, capsys)
    assert_not_done(lesson04.check_conv2d_im2col, capsys)
    assert_hints(lesson04.check_conv2d_im2col, {
        "bias is missing": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, None, s, p),
        "flipped the kernel": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w.flip(-1, -2), b, s, p),
        "stride=1, padding=1": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, b, s, 0),
        "stride=2": lambda x, w, b=None, s=1, p=0: conv2d_im2col(x, w, b, 1, p),
    }, capsys)


def test_maxpool2d(capsys):
    assert_passes(lesson04.check_maxpool2d, maxpool2d, capsys)
    assert_passes(lesson04.check_maxpool2d, lambda x, k: F.max_pool2d(x, k), capsys)
    assert_not_done(lesson04.check_maxpool2d, capsys)
    assert_hints(lesson04.check_maxpool2d, {
        "average pooling": lambda x, k: F.avg_pool2d(x, k),
        "overlap": lambda x, k: maxpool2d(x, k, 1),
        "channel": lambda x, k: maxpool2d(x, k).amax(1, keepdim=True),
    }, capsys)


def _batch_norm(x, gamma, beta, eps=1e-5, dims=(0, 2, 3), unbiased=False, with_eps=True):
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=unbiased)
    x_hat = (x - mean) / torch.sqrt(var + eps if with_eps else var)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]


def test_batch_norm(capsys):
    assert_passes(lesson04.check_batch_norm, _batch_norm, capsys)
    assert_passes(lesson04.check_batch_norm, lambda x, g, b, eps=1e-5: F.batch_norm(x, None, None, g, b, True, eps=eps), capsys)
    assert_not_done(lesson04.check_batch_norm, capsys)
    assert_hints(lesson04.check_batch_norm, {
        "gamma and beta are missing": lambda x, g, b, eps=1e-5: _batch_norm(x, torch.ones_like(g), torch.zeros_like(b), eps),
        "instance norm": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps, dims=(2, 3)),
        "mixes the channels": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps, dims=(1, 2, 3)),
        "one mean per pixel position": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps, dims=0),
        "biased variance": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps, unbiased=True),
        "add eps": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps, with_eps=False),
        "same shape as x": lambda x, g, b, eps=1e-5: _batch_norm(x, g, b, eps).mean(0),
    }, capsys)


class _SmallCNN(nn.Module):
    """The exercise's answer, with switches for the usual mistakes."""

    def __init__(self, cfg, padding=True, norm=True, n_pools=None, signed=True, name="blocks"):
        super().__init__()
        blocks, c_in = [], cfg.channels
        n_pools = len(cfg.widths) - 1 if n_pools is None else n_pools
        for i, c_out in enumerate(cfg.widths):
            layers = [nn.Conv2d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2 if padding else 0)]
            layers += [nn.BatchNorm2d(c_out)] if norm else []
            layers.append(nn.ReLU())
            layers += [nn.MaxPool2d(2)] if i < n_pools else []
            blocks.append(nn.Sequential(*layers))
            c_in = c_out
        setattr(self, name, nn.ModuleList(blocks))
        self.name, self.signed = name, signed
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, cfg.n_classes))

    def forward(self, x):
        h = x * 2 - 1 if self.signed else x
        for block in getattr(self, self.name):
            h = block(h)
        return self.head(h)


def test_small_cnn(capsys):
    assert_passes(lesson04.check_small_cnn, _SmallCNN, capsys)
    assert_passes(lesson04.check_small_cnn, CNN, capsys)
    assert_not_done(lesson04.check_small_cnn, capsys)
    assert_hints(lesson04.check_small_cnn, {
        "'same' padding": lambda cfg: _SmallCNN(cfg, padding=False),
        "BatchNorm2d is missing": lambda cfg: _SmallCNN(cfg, norm=False),
        "every block but the last": lambda cfg: _SmallCNN(cfg, n_pools=3),
        "[-1, 1]": lambda cfg: _SmallCNN(cfg, signed=False),
        "name the parts": lambda cfg: _SmallCNN(cfg, name="features"),
    }, capsys)


def test_small_cnn_check_leaves_the_global_rng_alone(capsys):
    torch.manual_seed(0)
    lesson04.check_small_cnn(_SmallCNN)
    after_check = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after_check, torch.rand(3))


def test_small_cnn_or_reference_starts_from_the_packages_weights(capsys):
    from course.cnn import CNNConfig
    from exercise_checks import blank

    cfg = CNNConfig()
    yours = lesson04.small_cnn_or_reference(_SmallCNN, cfg)
    assert isinstance(yours, _SmallCNN)
    for (name, p), (_, q) in zip(yours.state_dict().items(), CNN(cfg).state_dict().items()):
        assert torch.equal(p, q), name
    assert type(lesson04.small_cnn_or_reference(blank, cfg)) is CNN
    assert type(lesson04.small_cnn_or_reference(lambda cfg: _SmallCNN(cfg, norm=False), cfg)) is CNN
    assert capsys.readouterr().out == ""  # silent: the check cell already printed the hint
