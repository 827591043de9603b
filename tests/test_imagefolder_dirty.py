"""Image folders round-trip exactly; unreadable files are listed; the dirty folder's truth matches what the finders find."""
import os

import pytest
import torch

from course.data.dirty import (average_hash, exact_duplicates, find_blank, make_dirty_glyphs, near_duplicate_pairs,
                          recall_precision)
from course.data.imagefolder import load_image_folder, save_image_folder


def test_save_and_load_round_trip_exactly(tmp_path):
    x = (torch.randint(256, (6, 1, 5, 7)) / 255).float()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    paths = save_image_folder(x, y, str(tmp_path), ["cat", "dog", "emu"])
    assert len(paths) == 6 and all(p.endswith(".png") for p in paths)
    loaded = load_image_folder(str(tmp_path))
    assert loaded.class_names == ["cat", "dog", "emu"] and loaded.unreadable == []
    order = [paths.index(p) for p in loaded.paths]
    assert torch.equal(loaded.x, x[order]) and torch.equal(loaded.y, y[order])
    rgb = save_image_folder(torch.rand(2, 3, 4, 4), torch.tensor([0, 0]), str(tmp_path / "rgb"), ["a"])
    assert load_image_folder(str(tmp_path / "rgb"), channels=3).x.shape == (2, 3, 4, 4) and len(rgb) == 2


def test_unreadable_files_are_listed_and_sizes_checked(tmp_path):
    save_image_folder(torch.rand(2, 1, 6, 6), torch.tensor([0, 1]), str(tmp_path), ["a", "b"])
    (tmp_path / "a" / "broken.png").write_bytes(b"<html>404</html>")
    (tmp_path / "a" / "notes.txt").write_text("not an image, not listed")
    loaded = load_image_folder(str(tmp_path))
    assert len(loaded.x) == 2 and [os.path.basename(p) for p in loaded.unreadable] == ["broken.png"]
    save_image_folder(torch.rand(1, 1, 9, 9), torch.tensor([1]), str(tmp_path), ["a", "b"], start=50)
    with pytest.raises(ValueError, match="size="):
        load_image_folder(str(tmp_path))
    assert load_image_folder(str(tmp_path), size=6).x.shape == (3, 1, 6, 6)
    with pytest.raises(FileNotFoundError):
        load_image_folder(str(tmp_path / "missing"))


def test_dirty_folder_truth_and_finders(tmp_path):
    truth = make_dirty_glyphs(str(tmp_path), n=200, n_corrupt=5, n_blank=4, n_exact=6, n_near=6, mislabel_rate=0.1)
    assert truth.counts() == {"corrupt": 5, "blank": 4, "exact duplicates": 6, "near duplicates": 6, "mislabelled": 20}
    data = load_image_folder(str(tmp_path))
    assert set(data.unreadable) == set(truth.corrupt) and len(data.x) + 5 == truth.n_files
    paths = data.paths
    assert {paths[i] for i in torch.nonzero(find_blank(data.x))[:, 0].tolist()} == set(truth.blank)
    copies = {paths[i] for i in torch.nonzero(exact_duplicates(data.x))[:, 0].tolist()}
    assert copies == {max(pair) for pair in truth.exact_duplicates}  # the later file of each pair in reading order
    found = {frozenset((paths[i], paths[j])) for i, j in near_duplicate_pairs(data.x)}
    assert recall_precision(found, {frozenset(p) for p in truth.near_duplicates})[0] == 1.0
    for path, label in truth.mislabelled.items():
        assert data.y[paths.index(path)] != label


def test_average_hash_ignores_brightness_and_recall_precision():
    x = torch.rand(2, 1, 24, 24)
    assert torch.equal(average_hash(x), average_hash(x * 0.7)) and average_hash(x).shape == (2, 256)
    assert recall_precision({1, 2, 3}, {2, 3, 4, 5}) == (0.5, 2 / 3)
