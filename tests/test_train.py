from dataclasses import dataclass

import pytest
import torch
from torch import nn

from course.cache import load_checkpoint, save_checkpoint
from course.train import TensorLoader, accuracy, evaluate, fit, predict
from course.validate import require_finite, require_images


def test_loader_batches_shuffles_and_covers_everything():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    dl = TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(dl) == 3
    seen = torch.cat([yb for _, yb in dl])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert len(TensorLoader(x, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="same length"):
        TensorLoader(x, y[:3])


def test_fit_learns_a_separable_problem():
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = fit(model, TensorLoader(x, y, batch_size=32, shuffle=True), TensorLoader(x, y, batch_size=64),
                  nn.functional.cross_entropy, opt, n_epochs=5, progress=False)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["valid_metric"][-1] > 0.95 and all(isinstance(v, float) for v in history["train_loss"])
    assert predict(model, x).shape == (256, 2)
    loss, acc = evaluate(model, TensorLoader(x, y, batch_size=100), nn.functional.cross_entropy)
    assert acc == pytest.approx(history["valid_metric"][-1])


def test_nan_loss_stops_with_advice():
    x, y = torch.randn(8, 2), torch.zeros(8, dtype=torch.long)
    x[5, 0] = float("nan")  # one bad pixel is enough
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(model, TensorLoader(x, y, batch_size=4), None, nn.functional.cross_entropy, opt, 5, progress=False)
    assert require_finite(1.0) == 1.0


def test_accuracy_checks_shapes():
    assert accuracy(torch.tensor([[2.0, 1.0], [0.0, 1.0]]), torch.tensor([0, 0])) == 0.5
    with pytest.raises(ValueError, match="logits"):
        accuracy(torch.zeros(3), torch.zeros(3))


@dataclass
class TinyConfig:
    n_in: int = 3
    n_out: int = 2


class Tiny(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lin = nn.Linear(cfg.n_in, cfg.n_out)

    def forward(self, x):
        return self.lin(x)


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = Tiny(TinyConfig(4, 3))
    path = save_checkpoint(str(tmp_path / "m.pt"), model, TinyConfig(4, 3), {"train_loss": [1.0]})
    loaded, cfg, history = load_checkpoint(path, Tiny, TinyConfig)
    assert cfg == TinyConfig(4, 3) and history == {"train_loss": [1.0]}
    assert torch.equal(loaded.lin.weight, model.lin.weight)
    with pytest.raises(FileNotFoundError, match="train the model first"):
        load_checkpoint(str(tmp_path / "none.pt"), Tiny, TinyConfig)
    with pytest.raises(TypeError, match="dataclass"):
        save_checkpoint(str(tmp_path / "x.pt"), model, {"n_in": 4})


def test_image_checks_explain_the_fix():
    require_images(torch.rand(2, 1, 4, 4), channels=1, size=4)
    with pytest.raises(TypeError, match=r"\.float\(\) / 255"):
        require_images(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        require_images(torch.rand(1, 4, 4))
    with pytest.raises(ValueError, match="permute"):
        require_images(torch.rand(2, 4, 4, 3), channels=3)
    with pytest.raises(ValueError, match="28x28"):
        require_images(torch.rand(2, 1, 4, 4), size=28)
    with pytest.raises(TypeError, match="torch.Tensor"):
        require_images([[1.0]])


def test_load_if_trained_round_trip(tmp_path, monkeypatch):
    from course.cache import load_if_trained, save_trained

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    model = Tiny(TinyConfig())
    assert load_if_trained(model, TinyConfig(), "tiny") is None
    save_trained(model, TinyConfig(), "tiny", {"train_loss": [0.5]})
    fresh = Tiny(TinyConfig())
    assert load_if_trained(fresh, TinyConfig(), "tiny") == {"train_loss": [0.5]}
    assert torch.equal(fresh.lin.weight, model.lin.weight)
    assert load_if_trained(Tiny(TinyConfig(n_out=5)), TinyConfig(n_out=5), "tiny") is None  # other config, other file
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    assert load_if_trained(fresh, TinyConfig(), "tiny") is None


def test_trained_trains_once_then_loads_and_retrains_a_stale_or_corrupt_file(tmp_path, monkeypatch, capsys):
    from course.cache import trained, trained_path

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls = []

    def train():
        calls.append(1)
        model = Tiny(TinyConfig())
        with torch.no_grad():
            model.lin.weight.fill_(0.25)
        return model, {"loss": [1.0]}

    model, history = trained("tiny", TinyConfig(), lambda: Tiny(TinyConfig()), train)
    again, history2 = trained("tiny", TinyConfig(), lambda: Tiny(TinyConfig()), train)
    assert len(calls) == 1 and history2 == history == {"loss": [1.0]} and not again.training
    assert torch.equal(again.lin.weight, model.lin.weight)
    assert trained_path("tiny", TinyConfig(), "mnist") != trained_path("tiny", TinyConfig())  # the data is in the key
    with open(trained_path("tiny", TinyConfig()), "wb") as f:
        f.write(b"not a checkpoint")  # corrupt
    capsys.readouterr()
    trained("tiny", TinyConfig(), lambda: Tiny(TinyConfig()), train)
    assert len(calls) == 2 and "stale or unreadable" in capsys.readouterr().out
    # the model's code changed (other shapes under the same config): retrain, never load wrong weights
    trained("tiny", TinyConfig(), lambda: nn.Linear(2, 2), train)
    assert len(calls) == 3


def test_a_change_to_the_package_code_is_a_new_cache_key(tmp_path, monkeypatch):
    import shutil

    import course.cache as cache

    copy = tmp_path / "course"
    shutil.copytree(cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    before = cache.code_fingerprint(str(copy))
    assert before == cache.code_fingerprint.__wrapped__(cache.PACKAGE_DIR)  # names and contents, not where it lives
    (copy / "tools" / "bench.py").write_text("# a maintainer tool trains nothing\n")
    assert cache.code_fingerprint.__wrapped__(str(copy)) == before
    with open(copy / "train.py", "a") as f:
        f.write("\n# a recipe changed\n")
    assert cache.code_fingerprint.__wrapped__(str(copy)) != before

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    path = cache.trained_path("tiny", TinyConfig())
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "another-code")
    assert cache.trained_path("tiny", TinyConfig()) != path  # weights from before the change are never loaded


def test_train_steps_averages_windows_and_stops_on_nan():
    from course.train import train_steps

    history = train_steps(lambda i: {"loss": float(i), "other": 1.0}, 5, log_every=2, progress=False)
    assert history["step"] == [2, 4, 5] and history["loss"] == [0.5, 2.5, 4.0] and history["other"] == [1.0] * 3
    assert len(history["seconds"]) == 3 and history["seconds"] == sorted(history["seconds"])
    sparse = train_steps(lambda i: {"loss": 1.0, **({"valid": 0.5} if i % 2 else {})}, 4, log_every=4, progress=False)
    assert sparse["loss"] == [1.0] and sparse["valid"] == [0.5]  # averaged over the steps that reported it
    with pytest.raises(FloatingPointError, match="gan_loss became nan: lower the learning rate"):
        train_steps(lambda i: {"gan_loss": float("nan") if i == 3 else 1.0}, 5, progress=False)


def test_train_classifier_and_predict_with_a_function():
    from course.train import predict, train_classifier

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    y = (x[:, 0] > 0).long()
    cfg = TinyConfig(n_in=2, n_out=2)
    cfg.batch_size, cfg.lr, cfg.n_epochs, cfg.seed, cfg.weight_decay = 32, 0.1, 3, 0, 0.0
    model, history = train_classifier(Tiny(cfg), cfg, x, y, valid=(x, y), progress=False)
    assert history["valid_metric"][-1] > 0.9
    assert torch.equal(predict(model, x, batch_size=100, fn=lambda xb: model(xb) * 2), 2 * predict(model, x))


def test_signed_pixels_round_trip():
    from course.data.image_dataset import from_signed, to_signed

    x = torch.rand(3, 1, 4, 4)
    assert to_signed(x).min() >= -1 and torch.allclose(from_signed(to_signed(x)), x)
    assert from_signed(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 1.0]
