import gzip
import os
import time

import numpy as np
import pytest

from course.data import mnist
from course.data.mnist import DatasetUnavailable, download, load_real, read_idx, sha256_of, write_idx


def fake_mnist_folder(folder, n_train=12, n_test=5):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), rng.integers(0, 10, n_train))
    write_idx(os.path.join(folder, "t10k-images-idx3-ubyte"), rng.integers(0, 256, (n_test, 28, 28)))  # unzipped works too
    write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), rng.integers(0, 10, n_test))
    return folder


def test_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        assert np.array_equal(read_idx(write_idx(str(tmp_path / name), a)), a)


def test_corrupt_idx_files_are_named(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(str(bad_magic))
    path = write_idx(str(tmp_path / "short"), np.zeros((3, 2), np.uint8))
    with open(path, "r+b") as f:
        f.truncate(14)
    with pytest.raises(ValueError, match="header says"):
        read_idx(path)
    not_gzip = tmp_path / "x.gz"
    not_gzip.write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match="corrupt IDX"):
        read_idx(str(not_gzip))


def test_load_from_a_local_folder(tmp_path):
    ds = load_real("mnist", root=fake_mnist_folder(str(tmp_path)))
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1 and ds.y_train.dtype.is_floating_point is False


def test_missing_folder_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_real("mnist", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="lacks train-images.*the two t10k files at least"):
        load_real("fashion-mnist", root=str(tmp_path))


def test_a_folder_with_only_test_files_gives_a_test_set(tmp_path, capsys):
    folder = str(tmp_path)
    rng = np.random.default_rng(1)
    write_idx(os.path.join(folder, "mnist-dev-images-idx3-ubyte.gz"), rng.integers(0, 256, (7, 28, 28)))  # a renamed slice
    write_idx(os.path.join(folder, "mnist-dev-labels-idx1-ubyte.gz"), rng.integers(0, 10, 7))
    ds = load_real("mnist", root=folder)
    assert ds.x_test.shape == (7, 1, 28, 28) and ds.x_train.shape == (0, 1, 28, 28) and len(ds.y_train) == 0
    assert "only the test files" in capsys.readouterr().out
    os.remove(os.path.join(folder, "mnist-dev-labels-idx1-ubyte.gz"))
    with pytest.raises(FileNotFoundError, match="lacks .*t10k-labels"):
        load_real("mnist", root=folder)


def test_download_verifies_sha256(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello idx")
    digest = sha256_of(str(src))
    dest = tmp_path / "cache" / "file.bin"
    assert download(src.as_uri(), str(dest), digest) == str(dest)
    assert dest.read_bytes() == b"hello idx"
    with pytest.raises(DatasetUnavailable, match="checksum mismatch"):
        download(src.as_uri(), str(tmp_path / "other.bin"), "0" * 64)
    assert not (tmp_path / "other.bin").exists()


def test_offline_fails_fast_with_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setitem(mnist.SOURCES["mnist"], "urls", ["http://127.0.0.1:9/"])  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as err:
        load_real("mnist")
    assert time.perf_counter() - start < 15
    assert "load_dataset('glyphs')" in str(err.value) and "\n" not in str(err.value)


def test_cached_files_are_used_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    folder = fake_mnist_folder(str(tmp_path / "mnist"))
    os.rename(os.path.join(folder, "t10k-images-idx3-ubyte"), os.path.join(folder, "t10k-images-idx3-ubyte.gz.tmp"))
    with open(os.path.join(folder, "t10k-images-idx3-ubyte.gz.tmp"), "rb") as f, gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), "wb") as g:
        g.write(f.read())
    digests = {f: sha256_of(os.path.join(folder, f)) for f in mnist.SOURCES["mnist"]["sha256"]}
    monkeypatch.setitem(mnist.SOURCES["mnist"], "sha256", digests)
    monkeypatch.setitem(mnist.SOURCES["mnist"], "urls", ["http://127.0.0.1:9/"])
    assert load_real("mnist").x_test.shape == (5, 1, 28, 28)
