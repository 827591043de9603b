"""Memorisation: does a generator hand back its training images? A nearest-neighbour search, a justified
threshold, and duplicated training sets to provoke it.

Taught in 10_limits. Carlini et al. 2023 ("Extracting training data from diffusion models") generated
many images from Stable Diffusion and flagged those whose nearest training image was unusually close;
duplicated training images were the ones most often copied. The same measure here: for every
generated image, the distance to its nearest training image, compared with how close *new* real
images (a held-out set) come to the training set.
"""
from __future__ import annotations

import torch


def nearest_neighbours(samples: torch.Tensor, train: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (distance (N,), index (N,)) of each sample's nearest training row in Euclidean distance.

    `samples` (N, ...) and `train` (M, ...) are flattened to vectors; images or feature vectors both work.
    Computed in batches of samples so that the (batch, M) distance matrix stays small.
    """
    train = train.flatten(1).float()
    dists, idxs = [], []
    for i in range(0, len(samples), batch_size):
        d = torch.cdist(samples[i : i + batch_size].flatten(1).float(), train)  # (batch, M)
        dist, idx = d.min(1)
        dists.append(dist)
        idxs.append(idx)
    return torch.cat(dists), torch.cat(idxs)


def copy_threshold(held_out: torch.Tensor, train: torch.Tensor, quantile: float = 0.01) -> float:
    """Return the distance below which a sample counts as a copy: the `quantile` of held-out real images' distances
    to their nearest training image. Only that share of genuinely new images comes this close by chance."""
    return torch.quantile(nearest_neighbours(held_out, train)[0], quantile).item()


def with_duplicates(n_unique: int, n_duplicated: int, copies: int, n_total: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (indices of a training set, indices of its duplicated images) drawn from range(n_total).

    The set holds n_unique images once and n_duplicated further images `copies` times each, shuffled, as a
    web crawl holds the same famous picture many times. Drop the repeats (`indices.unique()`) to de-duplicate.
    """
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))
    unique, duplicated = perm[:n_unique], perm[n_unique : n_unique + n_duplicated]
    indices = torch.cat([unique, duplicated.repeat(copies)])
    return indices[torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed + 1))], duplicated


def copies_found(samples: torch.Tensor, train: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (is_copy (N,) bool, distance (N,), index (N,)): the samples closer than `threshold` to a training image."""
    dist, idx = nearest_neighbours(samples, train)
    return dist < threshold, dist, idx
