"""Bias in samples: how often a generator draws each class, compared with its training data.

Taught in 10_limits. A generator fitted to skewed data does not simply mirror the skew: a GAN, which is
rewarded for samples the discriminator cannot tell from real ones, tends to drop a rare class altogether
(lesson 07 measured GANs dropping modes; Bloomberg's 2023 analysis of Stable Diffusion found
occupations' gender and skin-tone shares pushed past the real-world ones). The text-to-image analogue
uses lesson 09's shapes with captions in which large shapes are almost always red: `skewed_captions`
makes the data, `caption_bias_model` trains lesson 09's recipe on it, `colour_of` reads a sample's colour.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from course.cache import trained
from course.data.shapes import ATTRIBUTES, BACKGROUND, RGB, render_shapes
from course.text import Tokenizer, build_vocab
from course.text2img import TextToImage, TextToImageConfig, train_text_to_image


def skewed_subset(y: torch.Tensor, majority: int, minority: int, n: int, minority_share: float,
                  seed: int = 0) -> torch.Tensor:
    """Return indices (n,) into y: round(n * minority_share) examples of `minority`, the rest of `majority`, shuffled."""
    g = torch.Generator().manual_seed(seed)
    n_min = round(n * minority_share)
    pick = []
    for label, count in [(majority, n - n_min), (minority, n_min)]:
        idx = (y == label).nonzero()[:, 0]
        if len(idx) < count:
            raise ValueError(f"class {label} has {len(idx)} examples, {count} requested")
        pick.append(idx[torch.randperm(len(idx), generator=g)[:count]])
    idx = torch.cat(pick)
    return idx[torch.randperm(len(idx), generator=g)]


def class_shares(probs: torch.Tensor, classes: tuple[int, ...], threshold: float = 0.9) -> dict[int, float]:
    """Return each class's share among the samples a judge confidently (probability >= threshold) reads as one of
    `classes`: the samples it cannot read, or reads as another class, are left out of the count."""
    confident, label = probs.max(1)
    counted = (confident >= threshold) & torch.isin(label, torch.tensor(classes))
    n = int(counted.sum())
    return {c: (int(((label == c) & counted).sum()) / n if n else float("nan")) for c in classes}


def amplification(train_share: float, sample_share: float) -> float:
    """Return how many times rarer a class is in the samples than in the training data (1 = mirrored, > 1 = amplified)."""
    return train_share / max(sample_share, 1e-9)


def rebalanced(y: torch.Tensor, weights: dict[int, float], n: int, seed: int = 0) -> torch.Tensor:
    """Return n indices into y drawn with replacement, each example with probability proportional to its class's weight
    (re-sampling: the data a model sees can be re-weighted without collecting any new example)."""
    w = torch.tensor([weights.get(int(c), 0.0) for c in y])
    return torch.multinomial(w, n, replacement=True, generator=torch.Generator().manual_seed(seed))


# Part 1's text-to-image analogue: lesson 09's shapes, captions in which "large" almost always comes with "red".
COLOURS = ATTRIBUTES["colour"]


@dataclass
class CaptionBiasConfig:
    """The skewed captioned shapes: what share of the large shapes is red, and how often a caption names no colour."""

    n: int = 4000
    size: int = 16  # pixels; colour is all that is measured, so small images do
    large_red_share: float = 0.9  # share of the large shapes drawn red; the rest spread evenly over the other colours
    p_no_colour: float = 0.5  # share of captions that leave the colour out: "a large triangle"
    seed: int = 0


def bias_caption(size: str, colour: str | None, shape: str) -> str:
    """Return 'a large red triangle', or 'a large triangle' when colour is None (position is never named)."""
    return f"a {size} {colour} {shape}" if colour else f"a {size} {shape}"


def caption_tokenizer() -> Tokenizer:
    """Return the tokenizer of every caption bias_caption can write."""
    captions = [bias_caption(z, c, s) for z in ATTRIBUTES["size"] for c in COLOURS for s in ATTRIBUTES["shape"]]
    return Tokenizer(build_vocab(captions), max_len=5)  # <start> + at most four words


def caption_bias_config(**overrides) -> TextToImageConfig:
    """Return lesson 09's text-to-image recipe shrunk to train on skewed_captions in about 20 s on one CPU thread:
    16-pixel images, narrower U-Net and text encoder, 800 steps of 32; `overrides` replace any field."""
    tokenizer = caption_tokenizer()
    cfg = TextToImageConfig(vocab=tokenizer.vocab, max_len=tokenizer.max_len, size=16, widths=(16, 32), text_dim=32,
                            n_steps=800, batch_size=32, lr=3e-3, prediction="x0")
    return replace(cfg, **overrides)


def skewed_captions(cfg: CaptionBiasConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[str]]:
    """Return (images (n, 3, size, size) in [0, 1], attribute indices, captions): small shapes take every colour
    equally often, large ones are red in a share cfg.large_red_share; a share cfg.p_no_colour of captions omit the colour."""
    g = torch.Generator().manual_seed(cfg.seed)
    attrs = {name: torch.randint(len(values), (cfg.n,), generator=g) for name, values in ATTRIBUTES.items()}
    attrs["position"] = torch.full((cfg.n,), ATTRIBUTES["position"].index("centre"))  # every shape in the centre
    large = attrs["size"] == ATTRIBUTES["size"].index("large")
    red, others = COLOURS.index("red"), torch.tensor([i for i in range(len(COLOURS)) if COLOURS[i] != "red"])
    other = others[torch.randint(len(others), (cfg.n,), generator=g)]
    attrs["colour"] = torch.where(large, torch.where(torch.rand(cfg.n, generator=g) < cfg.large_red_share, red, other),
                                  attrs["colour"])
    named = torch.rand(cfg.n, generator=g) >= cfg.p_no_colour
    captions = [bias_caption(ATTRIBUTES["size"][z], COLOURS[c] if keep else None, ATTRIBUTES["shape"][s])
                for z, c, s, keep in zip(attrs["size"].tolist(), attrs["colour"].tolist(), attrs["shape"].tolist(), named.tolist())]
    return render_shapes(attrs, cfg.size, g), attrs, captions


def balanced_by_colour(attrs: dict[str, torch.Tensor], seed: int = 0) -> torch.Tensor:
    """Return len(attrs) indices drawn with replacement so that, within each size, every colour is equally likely
    (re-weighting: each image's weight is 1 / the size of its (size, colour) group)."""
    group = attrs["size"] * len(COLOURS) + attrs["colour"]  # (N,)
    counts = torch.bincount(group, minlength=len(ATTRIBUTES["size"]) * len(COLOURS)).float()
    return rebalanced(group, {g: 1 / c.item() for g, c in enumerate(counts) if c > 0}, len(group), seed)


def colour_of(x: torch.Tensor, lit: float = 0.4) -> torch.Tensor:
    """Return each image's colour (N,) as an index into COLOURS, -1 for an image with no lit pixel: the mean colour of
    the pixels brighter than the background by `lit` in some channel, matched to the nearest palette colour."""
    on = ((x - BACKGROUND).amax(1) > lit).float()[:, None]  # (N, 1, H, W)
    mean = (x * on).sum((2, 3)) / on.sum((2, 3)).clamp(min=1)  # (N, 3)
    palette = torch.tensor([RGB[c] for c in COLOURS])  # (5, 3)
    nearest = torch.cdist(mean, palette).argmin(1)
    return torch.where(on.sum((1, 2, 3)) > 0, nearest, -1)


def colour_shares(colours: torch.Tensor) -> dict[str, float]:
    """Return each colour's share among the images that have one (colour_of's -1 left out)."""
    seen = colours[colours >= 0]
    return {c: (seen == i).float().mean().item() if len(seen) else float("nan") for i, c in enumerate(COLOURS)}


def caption_bias_model(data: CaptionBiasConfig, cfg: TextToImageConfig, rebalance: bool = False,
                       device: torch.device | str = "cpu", live=None) -> tuple[TextToImage, dict]:
    """Return (model, history): a text-to-image model (lesson 09's recipe, `cfg`) trained on skewed_captions(data),
    re-weighted by balanced_by_colour if `rebalance`; loaded from the cache if trained before."""
    x, attrs, captions = skewed_captions(data)
    if rebalance:
        idx = balanced_by_colour(attrs, data.seed)
        x, captions = x[idx], [captions[i] for i in idx.tolist()]
    tokenizer = caption_tokenizer()

    def build() -> TextToImage:
        with torch.random.fork_rng(devices=[]):  # the same start every time, and the caller's random state untouched
            torch.manual_seed(cfg.seed)
            return TextToImage(cfg)

    def train() -> tuple[TextToImage, dict]:
        return train_text_to_image(build().to(device), x * 2 - 1, tokenizer(captions), tokenizer("")[0], device, live)

    return trained("10_caption_bias", cfg, build, train, device, data=f"{data}, rebalance={rebalance}")
