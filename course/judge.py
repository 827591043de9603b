"""Small judge classifiers that score generated images, with no download.

Taught in 05_autoencoder and used by every generative lesson. The weights ship in
`course/weights/`; rebuild them with `python -m course.judge` (both), or `python -m course.judge shapes` (one).
"""
from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course.data.handwriting import PenStyle
from course.data.image_dataset import to_signed
from course.train import predict
from course.validate import require_images

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
# The digit judge sees wilder handwriting than the lessons train on, so that real handwriting
# (MNIST) is familiar to it; measured on 1,000 real MNIST digits, see README.
JUNK_WEIGHT = 0.05  # the pull of junk towards "unsure": 0.5 made real MNIST digits unsure too (0.72 recognisable)
JUDGE_HAND = PenStyle(jitter=0.05, slant=0.3, rotation=12.0, squeeze=(0.5, 1.2), elastic=0.06, pen=(0.7, 2.0))
# A shapes image is "recognisable" when the shapes judge reads every one of its attributes (shape, colour, size and
# position) with probability >= SHAPES_THRESHOLD: a grey, half-erased or doubled shape leaves it unsure of at least
# one (shapes_junk_test_set; tested in tests/test_judge_metrics.py). 0.9 is the digit judges' bar on their one head;
# here it lets through under 1 % of every kind of junk and 98.5 % of real shapes (0.8: all real shapes but 3.6 % of
# half-erased ones; 0.95: 93 % of real shapes).
SHAPES_THRESHOLD = 0.9


@dataclass
class JudgeConfig:
    """One judge: the data set it judges and the sizes of its heads."""

    dataset: str = "glyphs"
    channels: int = 1
    size: int = 28
    heads: tuple[tuple[str, int], ...] = (("digit", 10),)
    width: int = 32
    n_features: int = 128


class Judge(nn.Module):
    """A small CNN: `features(x)` gives (B, n_features); `forward(x)` gives a dict of logits per head."""

    def __init__(self, cfg: JudgeConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(3), nn.Flatten(),  # (B, 2w*9)
            nn.Linear(2 * w * 9, cfg.n_features), nn.ReLU(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(cfg.n_features, n) for name, n in cfg.heads})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the judge's features (B, n_features) of images in [0, 1]."""
        require_images(x, "images", self.cfg.channels, self.cfg.size)
        return self.body(to_signed(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {name: head(f) for name, head in self.heads.items()}


# Which judge scores which data set: real MNIST is scored by the glyph judge, which transfers to real
# handwriting (0.945 right, 0.875 recognisable on 1,000 real digits: `python -m course.tools.transfer`).
# Fashion-MNIST is not handwriting: its judge trains on its own training set on first use.
JUDGE_FOR = {"glyphs": "glyphs", "mnist": "glyphs", "fashion-mnist": "fashion-mnist", "shapes": "shapes"}
# Junk kinds (indices into junk_images' list) per judge: a grey ellipse or box, or half a garment, can be
# a real Fashion-MNIST image (a bag, a trouser leg), so that judge never learns to doubt them. Wiping half of a
# shapes image often misses the shape (in a corner): the shapes judge gets shape_junk's half-erased shapes instead.
JUNK_KINDS = {"fashion-mnist": (0, 1, 2, 3, 4, 5), "shapes": (0, 1, 2, 3, 4, 5, 6)}


def judge_config(dataset: str) -> JudgeConfig:
    """Return the judge configuration for 'glyphs', 'fashion-mnist' or 'shapes'."""
    from course.data.shapes import ATTRIBUTES

    if dataset == "glyphs":
        return JudgeConfig()
    if dataset == "fashion-mnist":
        return JudgeConfig("fashion-mnist")
    if dataset == "shapes":
        heads = tuple((name, len(values)) for name, values in ATTRIBUTES.items())
        return JudgeConfig("shapes", 3, 32, heads, width=24)
    raise ValueError(f"no judge for data set {dataset!r}: judges exist for {', '.join(JUDGE_FOR)}")


def _training_data(dataset: str, n: int, seed: int):
    """Return (x, {head: labels}) for training a judge, from a seed no lesson uses."""
    if dataset == "glyphs":
        from course.data.glyphs import course_digits

        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % 10
        return course_digits(y, generator=g, font_share=0.2, hand=JUDGE_HAND), {"digit": y}
    if dataset == "fashion-mnist":
        from course.data import active_dataset, active_digits

        if active_dataset() != "fashion-mnist":
            raise RuntimeError("the Fashion-MNIST judge trains on Fashion-MNIST: call "
                               "course.data.load_digits('fashion-mnist') first (online, or with root=)")
        data = active_digits()
        return data.x_train[:n], {"digit": data.y_train[:n]}
    from course.data.shapes import shapes_dataset

    ds = shapes_dataset(n_train=n, n_test=0, seed=seed)
    return ds.x_train, ds.attrs_train


def _grey_shapes(n: int, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Return n filled ellipses or rectangles (n, *shape) of a random grey level, size and place."""
    h, w = shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    c, r = torch.rand(n, 2, 1, 1, generator=g) - 0.5, 0.2 + 0.5 * torch.rand(n, 2, 1, 1, generator=g)
    dx, dy = (xx - c[:, 0]) / r[:, 0], (yy - c[:, 1]) / r[:, 1]
    ellipse = dx**2 + dy**2 <= 1
    box = (dx.abs() <= 1) & (dy.abs() <= 1)
    pick = torch.rand(n, 1, 1, generator=g) < 0.5
    grey = 0.3 + 0.7 * torch.rand(n, 1, 1, generator=g)
    return (torch.where(pick, ellipse, box) * grey)[:, None].expand(n, *shape[1:]).clone()


def _half_erased(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Return `x` with its top, bottom, left or right half (randomly, 45-60 % of the side) wiped out."""
    n, h, w = len(x), x.shape[-2], x.shape[-1]
    side = torch.randint(4, (n,), generator=g)
    cut = (0.45 + 0.15 * torch.rand(n, generator=g))
    rows = torch.linspace(0, 1, h)[None, :, None].expand(n, h, w)  # (n, h, w) 0 at the top, 1 at the bottom
    cols = torch.linspace(0, 1, w)[None, None, :].expand(n, h, w)
    c = cut[:, None, None]
    keep = torch.stack([rows > c, rows < 1 - c, cols > c, cols < 1 - c])  # (4, n, h, w): which half survives
    keep = keep[side, torch.arange(n)]  # (n, h, w)
    return x * keep[:, None]


def junk_images(x: torch.Tensor, g: torch.Generator, kinds: tuple[int, ...] = tuple(range(8))) -> torch.Tensor:
    """Return as many junk images as `x` has: noise, smudges, blends, heavy noise, flat fields, blurred
    averages, grey shapes and half-erased images.

    The judge learns to be unsure on them ("outlier exposure", Hendrycks et al. 2019), so that
    noise and blobs score as unrecognisable instead of as confident guesses. `kinds` picks which of
    the eight (in that order) are used.
    """
    n = len(x)
    kind = torch.tensor(kinds)[torch.randint(len(kinds), (n,), generator=g)]
    noise = torch.rand(x.shape, generator=g)
    smudge = F.interpolate(F.avg_pool2d(noise, 4), size=x.shape[-2:], mode="bilinear", align_corners=False)
    smudge = (smudge - smudge.amin((1, 2, 3), keepdim=True)) / (smudge.amax((1, 2, 3), keepdim=True) - smudge.amin((1, 2, 3), keepdim=True) + 1e-6)
    blend = 0.5 * (x + x[torch.randperm(n, generator=g)])
    a = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=g)
    noisy = (1 - a) * x + a * noise
    flat = torch.rand(n, x.shape[1], 1, 1, generator=g).expand_as(x)
    mixed = torch.stack([x[torch.randperm(n, generator=g)] for _ in range(8)]).mean(0)  # an average of 8 images
    average = F.avg_pool2d(mixed, 5, 1, 2, count_include_pad=False) * (1 + 2 * torch.rand(n, 1, 1, 1, generator=g))
    options = torch.stack([noise, smudge, blend, noisy, flat, average.clamp(0, 1), _grey_shapes(n, x.shape, g),
                           _half_erased(x, g)])  # (8, N, C, H, W)
    return options[kind, torch.arange(n)]


def junk_test_set(x: torch.Tensor, seed: int = 31337) -> dict[str, torch.Tensor]:
    """Return named kinds of junk built from real images `x`, for testing that a judge rejects them.

    Kinds: noise, blobs (smooth random fields), blurred averages, grey shapes, half-erased images.
    """
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    noise = torch.rand(x.shape, generator=g)
    blobs = F.interpolate(torch.rand(n, x.shape[1], 5, 5, generator=g), size=x.shape[-2:], mode="bicubic",
                          align_corners=False).clamp(0, 1) ** 2
    mixed = torch.stack([x[torch.randperm(n, generator=g)] for _ in range(4)]).mean(0)  # an average of 4 images
    return {"noise": noise, "blobs": blobs, "blurred averages": F.avg_pool2d(mixed, 3, 1, 1, count_include_pad=False),
            "grey shapes": _grey_shapes(n, x.shape, g), "half-erased": _half_erased(x, g)}


def shapes_junk_test_set(n: int = 500, seed: int = 31337) -> dict[str, torch.Tensor]:
    """Return named kinds of junk for testing the shapes judge: junk_test_set's kinds that apply to shapes (noise,
    blobs, blurred averages, grey shapes) and course.data.shapes.shape_junk's (colourless, half-erased, two shapes)."""
    from course.data.shapes import SHAPE_JUNK_KINDS, shape_junk, shapes_dataset

    data = shapes_dataset(n_train=0, n_test=n, seed=seed)
    junk = junk_test_set(data.x_test, seed)
    del junk["half-erased"]  # wiping half of the image misses a shape in a corner: shape_junk wipes half the shape
    g = torch.Generator().manual_seed(seed)
    return junk | {kind: shape_junk(data.attrs_test, g, (kind,)) for kind in SHAPE_JUNK_KINDS}


def mildly_degraded(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Return `x` with light noise or blur on each image: still clearly readable, so it keeps its label."""
    n = len(x)
    a = 0.25 * torch.rand(n, 1, 1, 1, generator=g)
    noisy = (1 - a) * x + a * torch.rand(x.shape, generator=g)
    w = torch.rand(n, 1, 1, 1, generator=g)
    blurred = (1 - w) * x + w * F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    pick = torch.rand(n, 1, 1, 1, generator=g)
    return torch.where(pick < 0.33, noisy, torch.where(pick < 0.66, blurred, x))


def _junk(dataset: str, x: torch.Tensor, labels: dict[str, torch.Tensor], idx: torch.Tensor,
          g: torch.Generator) -> torch.Tensor:
    """Return len(idx) junk images for a training batch: junk_images' kinds for `dataset`; for the shapes, half of
    them course.data.shapes.shape_junk's, drawn from the attributes of the images idx."""
    kinds = JUNK_KINDS.get(dataset, tuple(range(8)))
    if dataset != "shapes":
        return junk_images(x[idx], g, kinds)
    from course.data.shapes import shape_junk

    half = len(idx) // 2
    attrs = {name: v[idx[half:]] for name, v in labels.items()}
    return torch.cat([junk_images(x[idx[:half]], g, kinds), shape_junk(attrs, g)])


def train_judge(dataset: str, n: int = 40000, n_epochs: int = 5, seed: int = 9999,
                device: torch.device | str = "cpu") -> Judge:
    """Return a judge (on the CPU, eval mode) trained on `device` from scratch on n images of `dataset` plus junk
    (a few minutes on a CPU, well under a minute on a GPU)."""
    from course.train import train_steps

    torch.manual_seed(seed)
    x, labels = _training_data(dataset, n, seed)
    n = len(x)  # a real training set may be smaller than n
    model = Judge(judge_config(dataset)).to(device, memory_format=torch.channels_last)  # faster convolutions on a CPU
    bs = 128
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=n_epochs * (n // bs))
    model.train()
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = n // bs
    perm = torch.empty(0, dtype=torch.long)

    def step(i: int) -> dict[str, float]:
        nonlocal perm
        if i % steps_per_epoch == 0:  # a new epoch: a new shuffle
            perm = torch.randperm(n, generator=g)
        idx = perm[(i % steps_per_epoch) * bs : (i % steps_per_epoch + 1) * bs]
        xb, junk = mildly_degraded(x[idx], g), _junk(dataset, x, labels, idx[: bs // 4], g)
        out = model(torch.cat([xb, junk]).to(device, memory_format=torch.channels_last))
        loss = 0.0
        for k, logits in out.items():
            loss = loss + F.cross_entropy(logits[:bs], labels[k][idx].to(device))
            loss = loss - JUNK_WEIGHT * logits[bs:].log_softmax(-1).mean()  # cross-entropy to the uniform distribution
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.item()}

    train_steps(step, n_epochs * steps_per_epoch, log_every=steps_per_epoch, desc=f"judge {dataset}")
    return model.cpu().eval()


def _weights_path(dataset: str) -> str:
    return os.path.join(WEIGHTS_DIR, f"judge_{dataset}.pt")


def load_judge(dataset: str = "glyphs") -> Judge:
    """Return the judge for a data set (see JUDGE_FOR), in eval mode on the CPU: the shipped one for 'glyphs',
    'mnist' and 'shapes'; for 'fashion-mnist' one trained on its training set on first use and cached."""
    if dataset not in JUDGE_FOR:
        raise ValueError(f"no judge for data set {dataset!r}: judges exist for {', '.join(JUDGE_FOR)}")
    return _load_judge(JUDGE_FOR[dataset])


@functools.lru_cache(maxsize=None)
def _load_judge(dataset: str) -> Judge:
    cfg = judge_config(dataset)
    model = _trained_on_first_use(cfg) if dataset == "fashion-mnist" else _shipped(cfg)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _shipped(cfg: JudgeConfig) -> Judge:
    """Return the judge whose weights ship in course/weights."""
    path = _weights_path(cfg.dataset)
    if not os.path.exists(path):
        raise FileNotFoundError(f"judge weights missing at {path}: rebuild them with `python -m course.judge`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Judge(cfg)
    model.load_state_dict(state["state_dict"])
    return model


def _trained_on_first_use(cfg: JudgeConfig) -> Judge:
    """Return the Fashion-MNIST judge, trained on the active data set's training images: from the model cache,
    or trained now."""
    from course.cache import trained
    from course.device import pick_device

    def train() -> tuple[Judge, dict]:
        print("Training the Fashion-MNIST judge on its training set (once: under a minute on a GPU, "
              "a few minutes on a CPU).")
        with torch.enable_grad():  # judge_outputs, which asks for the judge, runs under no_grad
            return train_judge(cfg.dataset, device=pick_device()), {}

    return trained("judge", cfg, lambda: Judge(cfg), train)[0]


def save_judge(model: Judge) -> str:
    """Write a judge's weights (half precision, with its config) into course/weights; return the path."""
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    path = _weights_path(model.cfg.dataset)
    torch.save({"config": asdict(model.cfg), "state_dict": state}, path)
    return path


@torch.no_grad()
def judge_outputs(x: torch.Tensor, dataset: str | None = None, batch_size: int = 500) -> tuple[torch.Tensor, dict]:
    """Return the judge's features (N, n_features) and per-head probabilities {head: (N, n_classes)} of images.

    `dataset` defaults to the active data set (course.data.load_digits; the glyph digits unless a lesson switched).
    """
    from course.data import active_dataset

    judge = load_judge(dataset or active_dataset())
    x = require_images(x, "images", judge.cfg.channels, judge.cfg.size).detach().float().cpu()
    feats = predict(judge, x, batch_size, "cpu", fn=lambda xb: judge.features(xb.clamp(0, 1)))  # (N, n_features)
    return feats, {name: head(feats).softmax(-1) for name, head in judge.heads.items()}


# How long each shipped judge trains (images, epochs). The shapes are easy: 620 steps (1.5 minutes on 2 cores) teach the
# judge every attribute (all right on 2,000 held-out shapes) and its junk (under 1 % of each kind recognisable), and it
# calls 98.5 % of real shapes recognisable; 3 epochs gave 97.5 %.
TRAINING = {"glyphs": {"n": 40000, "n_epochs": 5}, "shapes": {"n": 20000, "n_epochs": 4}}

if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or TRAINING:  # `python -m course.judge shapes` rebuilds the shapes judge only
        print("saved", save_judge(train_judge(name, **TRAINING[name])))
