"""The split: no duplicate across splits, stratified, deterministic, arrays as documented."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from modelrobustness.data.prepared import load_class_names, load_split, load_split_uint8
from modelrobustness.data.split import SplitConfig, prepare_split

from helpers.images import good_image_bytes, write_class_folders


@pytest.fixture
def raw_dir(tmp_path):
    raw = tmp_path / "raw"
    write_class_folders(raw, {"cat": 30, "dog": 20, "horse": 10})
    # exact duplicates inside a class (kept once) ...
    for i in range(3):
        shutil.copy(raw / "cat" / f"img{i:03d}.png", raw / "cat" / f"dup{i}.png")
    # ... and one image filed under two classes (no trustworthy label: dropped)
    (raw / "dog" / "conflict.png").write_bytes(good_image_bytes(999))
    (raw / "horse" / "conflict.png").write_bytes(good_image_bytes(999))
    return raw


def _config(**kw):
    return SplitConfig(
        **{
            "val_fraction": 0.2,
            "test_fraction": 0.2,
            "image_size": 12,
            "color": "rgb",
            "seed": 3,
            "aspect": "crop",
            "max_per_class": None,
            **kw,
        }
    )


def test_split_properties(raw_dir, tmp_path):
    out = tmp_path / "prepared"
    metrics = prepare_split(raw_dir, out, _config())
    assert metrics["duplicates_removed"] == 3 and metrics["label_conflicts_removed"] == 2
    assert metrics["train"] + metrics["val"] + metrics["test"] == 60
    index = pd.read_csv(out / "index.csv")
    assert index["sha256"].is_unique  # no image in two splits (nor twice in one)
    assert "conflict" not in " ".join(index["path"])
    # stratified: each split's class shares within one image of the overall shares
    for split in ("train", "val", "test"):
        part = index[index["split"] == split]
        for name, total in {"cat": 30, "dog": 20, "horse": 10}.items():
            expected = total * len(part) / 60
            assert abs((part["class"] == name).sum() - expected) <= 1
    x, y = load_split_uint8(out, "train")
    assert x.dtype == np.uint8 and x.shape[1:] == (3, 12, 12) and y.dtype == np.int64
    assert load_class_names(out) == ["cat", "dog", "horse"]
    xf, yf = load_split(out, "test")
    assert xf.dtype.is_floating_point and 0 <= float(xf.min()) and float(xf.max()) <= 1
    rows = index[index["split"] == "test"].sort_values("row")
    assert rows["label"].tolist() == yf.tolist()
    # rows are shuffled within a split: the first images are not all of the first class
    first = index[index["split"] == "train"].sort_values("row")["class"].head(12)
    assert first.nunique() > 1


def test_split_deterministic_and_seeded(raw_dir, tmp_path):
    prepare_split(raw_dir, tmp_path / "a", _config())
    prepare_split(raw_dir, tmp_path / "b", _config())
    prepare_split(raw_dir, tmp_path / "c", _config(seed=4))
    for name in ("index.csv", "train_x.npy", "test_y.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    index_a = (tmp_path / "a" / "index.csv").read_bytes()
    assert index_a != (tmp_path / "c" / "index.csv").read_bytes()


def test_gray_and_max_per_class(raw_dir, tmp_path):
    metrics = prepare_split(raw_dir, tmp_path / "p", _config(color="gray", max_per_class=10))
    assert metrics["image_shape"] == [1, 12, 12]
    assert metrics["train"] + metrics["val"] + metrics["test"] == 30


def test_bad_split_params(raw_dir, tmp_path):
    with pytest.raises(ValueError, match="^color is 'sepia'; expected one of 'rgb', 'gray'$"):
        _config(color="sepia")
    with pytest.raises(ValueError, match="below 1"):
        _config(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="no images"):
        (tmp_path / "empty").mkdir()
        prepare_split(tmp_path / "empty", tmp_path / "p", _config())
    with pytest.raises(FileNotFoundError, match="dvc repro split"):
        load_split(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match="expected one of 'train', 'val', 'test'"):
        load_split(tmp_path / "nowhere", "holdout")


def test_a_split_too_small_to_stratify_says_what_each_split_needs(tmp_path):
    raw = tmp_path / "raw"
    write_class_folders(raw, {f"class{i}": 3 for i in range(10)})
    with pytest.raises(ValueError) as caught:
        prepare_split(raw, tmp_path / "prepared", _config())
    message = str(caught.value)
    assert message.startswith(
        "cannot split 30 images of 10 classes stratified by class: the "
        "val split would get 6, test split would get 6 images, fewer "
        "than one per class (10)"
    )
    assert "about 50 images or more" in message and "split.test_fraction 0.2" in message
    assert not (tmp_path / "prepared").exists()
