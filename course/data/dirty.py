"""A dirty copy of digit images to practise cleaning on, with the truth about every flaw; and the finders.

Taught in 03_data. `make_dirty_glyphs` writes a folder the way real collections arrive: some files
do not open, some images are blank, some appear twice (byte for byte, or re-compressed and
brightened), and some sit in the wrong class folder. It returns the list of each flaw so that the
finders below (`find_blank`, `exact_duplicates`, `near_duplicate_pairs`) can be scored.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from course.data import DIGIT_SETS, did_you_mean, loaded_digits
from course.data.glyphs import DIGITS, course_digits
from course.data.imagefolder import to_uint8

# The digits a hurried labeller mixes up (each maps to its look-alike).
LOOK_ALIKES = {1: 7, 7: 1, 3: 8, 8: 3, 4: 9, 9: 4, 5: 6, 6: 5, 0: 6, 2: 7}


@dataclass
class DirtyTruth:
    """Which files of the dirty folder have which flaw (paths as written)."""

    corrupt: list[str] = field(default_factory=list)  # files that do not decode as images
    blank: list[str] = field(default_factory=list)  # images with no digit in them
    exact_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (original, copy with the same pixels)
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (original, re-compressed brighter/darker copy)
    mislabelled: dict[str, int] = field(default_factory=dict)  # path -> the digit it really shows
    n_files: int = 0

    def counts(self) -> dict[str, int]:
        """Return how many files have each flaw."""
        return {"corrupt": len(self.corrupt), "blank": len(self.blank), "exact duplicates": len(self.exact_duplicates),
                "near duplicates": len(self.near_duplicates), "mislabelled": len(self.mislabelled)}


def _png_bytes(img: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(img: torch.Tensor, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def make_dirty_glyphs(root: str, n: int = 4000, seed: int = 0, n_corrupt: int = 25, n_blank: int = 40,
                      n_exact: int = 80, n_near: int = 80, mislabel_rate: float = 0.12,
                      source: str = "glyphs") -> DirtyTruth:
    """Write a dirty digit folder root/<class number>/<number>.png|.jpg and return the truth about its flaws.

    `source`: 'glyphs' draws new glyph digits; 'mnist' or 'fashion-mnist' takes the images from that set's training
    images (load it first: `course.data.load_digits`, `digit_subset` or `use_digits`).
    Half the mislabelled images get a look-alike digit (LOOK_ALIKES), half a random other one.
    File numbers are shuffled, so a file's name gives nothing away.
    """
    if source not in DIGIT_SETS:
        raise ValueError(f"source can be {', '.join(DIGIT_SETS)}, not {source!r}.{did_you_mean(source, DIGIT_SETS)}")
    g = torch.Generator().manual_seed(seed)
    y_true = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]
    x = course_digits(y_true, 28, generator=g) if source == "glyphs" else loaded_digits(source).images_of(y_true, g)
    y_given = y_true.clone()
    n_wrong = round(mislabel_rate * n)
    wrong = torch.randperm(n, generator=g)[:n_wrong]
    for k, i in enumerate(wrong.tolist()):
        if k % 2 == 0:
            y_given[i] = LOOK_ALIKES[int(y_true[i])]
        else:
            y_given[i] = (y_true[i] + torch.randint(1, 10, (1,), generator=g)) % 10
    clean = torch.ones(n, dtype=torch.bool)
    clean[wrong] = False
    sources = torch.nonzero(clean)[:, 0][torch.randperm(int(clean.sum()), generator=g)[: n_exact + n_near]]

    # Every file as (kind, label folder, bytes, extension, index of the original it copies or -1).
    items = [("image", int(y_given[i]), _png_bytes(x[i]), "png", -1) for i in range(n)]
    for i in sources[:n_exact].tolist():
        items.append(("exact", int(y_given[i]), items[i][2], "png", i))
    for i in sources[n_exact:].tolist():
        brightness = 0.7 + 0.3 * torch.rand(1, generator=g).item()
        quality = int(torch.randint(50, 90, (1,), generator=g))
        items.append(("near", int(y_given[i]), _jpeg_bytes(x[i] * brightness, quality), "jpg", i))
    for k in range(n_blank):
        level = [0.0, 0.0, 1.0, 0.5][k % 4]  # black (the usual failure), white, grey
        img = (level + 0.01 * torch.randn(1, 28, 28, generator=g)).clamp(0, 1)
        items.append(("blank", int(torch.randint(10, (1,), generator=g)), _png_bytes(img), "png", -1))
    real = _png_bytes(x[0])
    broken = [real[: len(real) // 2], b"", b"<html><body>404 Not Found</body></html>",
              bytes(torch.randint(256, (300,), generator=g, dtype=torch.uint8).tolist()), real[:8] + b"\0" * 200]
    for k in range(n_corrupt):
        items.append(("corrupt", int(torch.randint(10, (1,), generator=g)), broken[k % len(broken)], "png", -1))

    numbers = torch.randperm(len(items), generator=g).tolist()
    paths = [os.path.join(root, DIGITS[label], f"{number:05d}.{ext}") for (_, label, _, ext, _), number in zip(items, numbers)]
    for d in DIGITS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    truth = DirtyTruth(n_files=len(items))
    for (kind, _, data, _, source), path in zip(items, paths):
        with open(path, "wb") as f:
            f.write(data)
        if kind == "exact":
            truth.exact_duplicates.append((paths[source], path))
        elif kind == "near":
            truth.near_duplicates.append((paths[source], path))
        elif kind in ("blank", "corrupt"):
            getattr(truth, kind).append(path)
    truth.mislabelled = {paths[i]: int(y_true[i]) for i in wrong.tolist()}
    return truth


def find_blank(x: torch.Tensor, min_std: float = 0.05) -> torch.Tensor:
    """Return a bool mask (N,) of images whose pixels barely vary (standard deviation below `min_std`)."""
    return x.flatten(1).std(dim=1) < min_std


def exact_duplicates(x: torch.Tensor) -> torch.Tensor:
    """Return a bool mask (N,): True for each image whose pixels equal those of an earlier image (hashing the bytes)."""
    seen, mask = set(), torch.zeros(len(x), dtype=torch.bool)
    for i, img in enumerate(x):
        key = hashlib.sha1(to_uint8(img).tobytes()).hexdigest()  # a fingerprint: equal pixels, equal keys
        mask[i] = key in seen
        seen.add(key)
    return mask


def average_hash(x: torch.Tensor, hash_size: int = 16) -> torch.Tensor:
    """Return the average hash of each image: (N, hash_size**2) bools, True where a block is brighter than the image's mean.

    Shrinking to a few blocks ignores compression noise; comparing with the image's own mean
    ignores brightness. Near-identical images get (nearly) the same bits.
    """
    small = F.adaptive_avg_pool2d(x.mean(1, keepdim=True), hash_size).flatten(1)  # (N, hash_size**2)
    return small > small.mean(dim=1, keepdim=True)


def unit_pixels(x: torch.Tensor) -> torch.Tensor:
    """Return each image of `x` (N, C, H, W) as a centred row of length 1, (N, C*H*W): the dot product of two
    rows is their pixels' correlation, blind to brightness and contrast."""
    rows = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-8)


def near_duplicate_pairs(x: torch.Tensor, max_distance: int = 4, hash_size: int = 16,
                         min_correlation: float = 0.98) -> list[tuple[int, int]]:
    """Return the pairs (i, j), i < j, whose average hashes differ in at most `max_distance` bits and
    whose pixels correlate at least `min_correlation` (the hash proposes, the pixels confirm)."""
    signs = average_hash(x, hash_size).float() * 2 - 1  # (N, bits) of +-1
    distance = (signs.shape[1] - signs @ signs.T) / 2  # Hamming distance between every two hashes, (N, N)
    i, j = torch.nonzero(torch.triu(distance <= max_distance, diagonal=1), as_tuple=True)
    rows = unit_pixels(x)
    keep = (rows[i] * rows[j]).sum(1) >= min_correlation
    return list(zip(i[keep].tolist(), j[keep].tolist()))


def recall_precision(found: set, truth: set) -> tuple[float, float]:
    """Return (recall, precision) of the `found` items against the `truth` (1.0 when a side is empty)."""
    hits = len(found & truth)
    return (hits / len(truth) if truth else 1.0, hits / len(found) if found else 1.0)
