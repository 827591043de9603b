"""How good are generated images? Recognisability, coverage, Fréchet distance, precision and recall.

Taught in 05_autoencoder. All scores use a judge classifier's features (course.judge), so they
need no download: the same idea as FID (Heusel et al. 2017) with a judge instead of Inception.
"""
from __future__ import annotations

import functools
import math

import torch

from course.judge import JUDGE_FOR, SHAPES_THRESHOLD, judge_outputs


def psnr(x: torch.Tensor, target: torch.Tensor, max_value: float = 1.0) -> float:
    """Return the peak signal-to-noise ratio in dB between two image batches in [0, max_value]."""
    if x.shape != target.shape:
        raise ValueError(f"psnr needs equal shapes, got {tuple(x.shape)} and {tuple(target.shape)}")
    mse = torch.mean((x.float() - target.float()) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(max_value**2 / mse)


def recognisability(probs: torch.Tensor | dict[str, torch.Tensor], threshold: float = 0.9) -> float:
    """Return the share of samples the judge assigns to one class with probability >= threshold; given one table of
    probabilities per head ({head: (N, n_classes)}), the share it is that sure of on every head."""
    tables = probs.values() if isinstance(probs, dict) else [probs]
    sure = torch.stack([p.max(-1).values >= threshold for p in tables]).all(0)  # (N,)
    return sure.float().mean().item()


def recognisable_threshold(dataset: str) -> float:
    """Return the probability the judge of `dataset` must reach to call an image recognisable: 0.9 for a digit (or
    garment), SHAPES_THRESHOLD (course.judge) on every attribute of a shape."""
    return SHAPES_THRESHOLD if JUDGE_FOR.get(dataset) == "shapes" else 0.9


def recognisable_share(x: torch.Tensor, dataset: str | None = None) -> float:
    """Return the share of images (N, C, H, W) in [0, 1] that the judge of `dataset` (default: the active data set)
    calls recognisable: sure of the digit, or of every attribute of the shape (recognisable_threshold)."""
    from course.data import active_dataset

    dataset = dataset or active_dataset()
    return recognisability(judge_outputs(x, dataset)[1], recognisable_threshold(dataset))


def coverage(probs: torch.Tensor, threshold: float = 0.9) -> float:
    """Return the effective number of confidently predicted classes over the number of classes, in [0, 1].

    exp(entropy) of the histogram of confident predictions: 1.0 when every class is equally common,
    1/n_classes when every sample is the same class (mode collapse), 0 when nothing is recognisable.
    """
    confident = probs.max(-1).values >= threshold
    if not confident.any():
        return 0.0
    counts = torch.bincount(probs[confident].argmax(-1), minlength=probs.shape[-1]).float()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return (entropy.exp() / probs.shape[-1]).item()


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, D).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)   (eq. 6 of Heusel et al. 2017)
    """
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrtm_psd(s_a)
    cross = _sqrtm_psd(root_a @ s_b @ root_a)
    return ((mu_a - mu_b).pow(2).sum() + torch.trace(s_a + s_b - 2 * cross)).item()


def _knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(feats, feats)  # (N, N)
    return d.kthvalue(k + 1, dim=1).values  # k+1: the nearest is the point itself


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Return (precision, recall) of Kynkäänniemi et al. 2019 with k-nearest-neighbour balls.

    Precision: share of fakes inside some real sample's k-NN ball (are samples realistic?).
    Recall: share of reals inside some fake sample's k-NN ball (is the variety covered?).
    """
    real, fake = real.double(), fake.double()
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = torch.cdist(fake, real)  # (N_fake, N_real)
    precision = (d <= r_real[None, :]).any(1).double().mean().item()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean().item()
    return precision, recall


def reference_features(dataset: str | None = None, n: int = 2000) -> torch.Tensor:
    """Return judge features of `n` real held-out images of `dataset` (default: the active data set):
    for the generated data sets a seed no lesson trains on; for MNIST and Fashion-MNIST the last n test images
    (lessons score real test images from the front of the test set)."""
    from course.data import active_dataset, active_digits

    dataset = dataset or active_dataset()
    if dataset not in ("mnist", "fashion-mnist"):
        return _reference_features(dataset, n, None)
    if active_dataset() != dataset:
        raise RuntimeError(f"reference images of {dataset} come from its test set: call "
                           f"course.data.load_digits({dataset!r}) first")
    return _reference_features(dataset, n, id(active_digits()))  # the loaded copy (a root= folder, or the download)


@functools.lru_cache(maxsize=None)
def _reference_features(dataset: str, n: int, source: int | None) -> torch.Tensor:
    if dataset in ("mnist", "fashion-mnist"):
        from course.data import active_digits

        x = active_digits().x_test[-n:]
    elif dataset == "glyphs":
        from course.data.glyphs import glyph_digits

        x = glyph_digits(n_train=0, n_test=n, seed=4242).x_test
    else:
        from course.data.shapes import shapes_dataset

        x = shapes_dataset(n_train=0, n_test=n, seed=4242).x_test
    return judge_outputs(x, dataset)[0]


def judge_samples(samples: torch.Tensor, dataset: str | None = None, labels: torch.Tensor | None = None,
                  head: str | None = None) -> dict[str, float]:
    """Return a dict of scores for generated images (N, C, H, W) in [0, 1], judged as images of `dataset`
    (default: the active data set, course.data.load_digits; the glyph digits unless a lesson switched).

    Keys: recognisability (recognisable_share's measure; on `head` alone when one is named), coverage, frechet,
    precision, recall, and class_accuracy when the intended `labels` are given (the judge agrees with the class the
    sample was asked for). coverage and class_accuracy read `head`, by default the judge's first (the digit, the shape).
    """
    from course.data import active_dataset

    dataset = dataset or active_dataset()
    feats, probs = judge_outputs(samples, dataset)
    p = probs[head or next(iter(probs))]
    ref = reference_features(dataset)
    precision, recall = precision_recall(ref[: max(len(feats), 200)], feats)
    scores = {
        "recognisability": recognisability(probs if head is None else p, recognisable_threshold(dataset)),
        "coverage": coverage(p, recognisable_threshold(dataset)),
        "frechet": frechet_distance(ref, feats),
        "precision": precision,
        "recall": recall,
    }
    if labels is not None:
        scores["class_accuracy"] = (p.argmax(-1) == labels.cpu()).float().mean().item()
    return scores


def sanity_table(dataset: str = "glyphs", n: int = 1000) -> dict[str, dict[str, float]]:
    """Return the judge's scores on held-out real images, progressively degraded copies, and pure noise."""
    import torch.nn.functional as F

    if dataset == "glyphs":
        from course.data.glyphs import glyph_digits

        x = glyph_digits(n_train=0, n_test=n, seed=777).x_test
    else:
        from course.data.shapes import shapes_dataset

        x = shapes_dataset(n_train=0, n_test=n, seed=777).x_test
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(x.shape, generator=g)
    versions = {
        "real (held out)": x,
        "3x3 blur": F.avg_pool2d(x, 3, 1, 1),
        "20% noise": 0.8 * x + 0.2 * noise,
        "5x5 blur": F.avg_pool2d(x, 5, 1, 2),
        "50% noise": 0.5 * x + 0.5 * noise,
        "pure noise": noise,
    }
    return {name: judge_samples(v, dataset) for name, v in versions.items()}


if __name__ == "__main__":
    for name in ("glyphs", "shapes"):
        print(f"{name:<18}" + "".join(f"{k:>16}" for k in ("recognisability", "coverage", "frechet", "precision", "recall")))
        for version, scores in sanity_table(name).items():
            print(f"  {version:<16}" + "".join(f"{scores[k]:16.3f}" for k in ("recognisability", "coverage", "frechet", "precision", "recall")))
