"""Bias in samples: how often a generator draws each class, compared with its training data.

Taught in 10_limits. A generator fitted to skewed data does not simply mirror the skew: a GAN, which is
rewarded for samples the discriminator cannot tell from real ones, tends to drop a rare class altogether
(lesson 07 measured GANs dropping modes; Bloomberg's 2023 analysis of Stable Diffusion found
occupations' gender and skin-tone shares pushed past the real-world ones).
"""
from __future__ import annotations

import torch


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
