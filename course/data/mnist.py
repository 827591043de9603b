"""Real data sets when online: MNIST and Fashion-MNIST, from their IDX files.

Taught in 03_data. Files are downloaded once into a cache and verified with SHA-256, or read
from a folder you name. With no network the download fails within seconds with one clear line.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request

import numpy as np
import torch

from course.data.image_dataset import ImageDataset

SOURCES = {
    "mnist": {
        "urls": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "classes": [str(i) for i in range(10)],
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "urls": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "classes": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
        "sha256": {
            "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        },
    },
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetUnavailable(RuntimeError):
    """A real data set could not be found or downloaded."""


def read_idx(path: str) -> np.ndarray:
    """Return the array stored in an IDX file (gzipped or not); raise ValueError if it is corrupt."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"corrupt IDX file {path}: cannot read it ({err}); delete it and download again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"corrupt IDX file {path}: bad magic number {data[:4].hex()} (expected 0000 08 0n)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"corrupt IDX file {path}: truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])  # big-endian sizes
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"corrupt IDX file {path}: header says {dims} ({expected} bytes) but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def write_idx(path: str, array: np.ndarray) -> str:
    """Write an unsigned-byte array as an IDX file (gzipped if the name ends in .gz); return the path."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def sha256_of(path: str) -> str:
    """Return the SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str, sha256: str, timeout: float = 10.0) -> str:
    """Download `url` to `dest` unless a file with the right SHA-256 is there; return `dest`.

    Raises DatasetUnavailable in one line when offline or when the checksum does not match.
    """
    if os.path.exists(dest) and sha256_of(dest) == sha256:
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        got = sha256_of(tmp)
        if got != sha256:
            raise DatasetUnavailable(f"checksum mismatch for {url}: expected {sha256[:12]}…, got {got[:12]}… (file not kept)")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise DatasetUnavailable(f"could not download {url} ({reason}); offline? use load_dataset('glyphs') instead") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _find(folder: str, name: str) -> str | None:
    for candidate in (name, name[:-3]):  # gzipped or already unpacked
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    return None


def _find_test_like(folder: str, name: str) -> str | None:
    """Return the one file in `folder` that holds test images (or labels) under another name, e.g. a slice
    called mnist-dev-images-idx3-ubyte.gz; None when there is none or more than one."""
    kind = "images-idx3" if "images" in name else "labels-idx1"
    found = [f for f in sorted(os.listdir(folder)) if kind in f and not f.startswith("train")]
    return os.path.join(folder, found[0]) if len(found) == 1 else None


def load_real(name: str = "mnist", root: str | None = None, download_missing: bool = True, timeout: float = 10.0) -> ImageDataset:
    """Return MNIST or Fashion-MNIST as an ImageDataset (images (N, 1, 28, 28) floats in [0, 1]).

    `root`: a folder that already holds the four IDX files (gzipped or not); nothing is downloaded. A folder
    with only the two test files (any names containing images-idx3 / labels-idx1) gives an empty training set.
    Otherwise the files are cached under course.cache.cache_dir() and downloaded if missing.
    """
    from course.cache import cache_dir

    if name not in SOURCES:
        raise ValueError(f"unknown real data set {name!r}: choose from {sorted(SOURCES)}")
    src = SOURCES[name]
    if root is not None:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"folder {root!r} does not exist: name the folder that holds the {name} IDX files")
        paths = {f: _find(root, f) or (_find_test_like(root, f) if f.startswith("t10k") else None) for f in src["sha256"]}
        missing = [f for f, p in paths.items() if p is None]
        if any(f.startswith("t10k") for f in missing):
            raise FileNotFoundError(f"{root!r} lacks {', '.join(missing)}: put the four {name} IDX files there "
                                    "(the two t10k files at least, for a test set only)")
        if missing:
            print(f"{root!r} has only the test files ({', '.join(missing)} missing): the training set is empty")
    else:
        folder = os.path.join(cache_dir(), name)
        paths = {}
        for f, digest in src["sha256"].items():
            cached = os.path.join(folder, f)
            if not (os.path.exists(cached) and sha256_of(cached) == digest):
                if not download_missing:
                    raise DatasetUnavailable(f"{name} is not in the cache {folder}; pass download_missing=True when online")
                _download_any([u + f for u in src["urls"]], cached, digest, timeout)
            paths[f] = cached
    arrays = {f: read_idx(p) if p else np.zeros((0, 28, 28) if "images" in f else (0,), np.uint8) for f, p in paths.items()}

    def images(a):  # (N, 28, 28) bytes -> (N, 1, 28, 28) floats
        return torch.from_numpy(a.astype(np.float32) / 255.0)[:, None]

    return ImageDataset(
        name,
        images(arrays["train-images-idx3-ubyte.gz"]), torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64)),
        images(arrays["t10k-images-idx3-ubyte.gz"]), torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64)),
        list(src["classes"]),
    )


def _download_any(urls: list[str], dest: str, sha256: str, timeout: float) -> str:
    errors = []
    for url in urls:
        try:
            return download(url, dest, sha256, timeout)
        except DatasetUnavailable as err:
            errors.append(str(err))
    raise DatasetUnavailable(errors[-1])
