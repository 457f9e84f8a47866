"""The ``split`` step: drop exact duplicates, split stratified, decode and resize once.

Outputs in ``prepared_dir``: ``<split>_x.npy`` (uint8 N x C x H x W), ``<split>_y.npy``
(int64 N), ``classes.json`` and ``index.csv`` (split, row, path, class, label, sha256).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from ..utils.checks import InvalidValue, check_choice, check_fraction, check_int
from ..utils.io import atomic_directory
from .images import ImageRejected, decode_image, fit_image
from .prepared import SPLITS

COLORS: tuple[str, ...] = ("rgb", "gray")
ASPECTS: tuple[str, ...] = ("crop", "pad")


@dataclass(frozen=True)
class SplitConfig:
    """How to split and resize; fractions are of the de-duplicated images."""

    val_fraction: float
    test_fraction: float
    image_size: int
    color: str
    aspect: str
    max_per_class: int | None
    seed: int

    def __post_init__(self) -> None:
        check_fraction("val_fraction", self.val_fraction)
        check_fraction("test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1:
            raise InvalidValue("test_fraction", self.test_fraction,
                               f"below 1 - val_fraction = {1 - self.val_fraction:g}")
        check_choice("color", self.color, COLORS)
        check_choice("aspect", self.aspect, ASPECTS)
        check_int("image_size", self.image_size, minimum=8)
        check_int("max_per_class", self.max_per_class, allow_none=True)
        check_int("seed", self.seed, minimum=0)


def scan_raw(raw_dir: Path) -> pd.DataFrame:
    """One row per file under ``raw_dir/<class>/``: path (relative), class, sha256."""
    rows = []
    for class_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            rows.append((path.relative_to(raw_dir).as_posix(), class_dir.name, digest))
    if not rows:
        raise ValueError(f"{raw_dir} holds no images in class folders; run the download stage")
    return pd.DataFrame(rows, columns=["path", "class", "sha256"])


def drop_duplicates(files: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Keep one copy of each exact duplicate (the first by path).

    Identical files filed under different classes have no trustworthy label: all copies are
    dropped. Returns (kept, duplicates_removed, label_conflicts_removed).
    """
    classes_per_hash = files.groupby("sha256")["class"].nunique()
    conflicted = set(classes_per_hash[classes_per_hash > 1].index)
    is_conflict = files["sha256"].isin(conflicted)
    clean = files[~is_conflict]
    kept = clean.drop_duplicates("sha256", keep="first")
    return kept.reset_index(drop=True), len(clean) - len(kept), int(is_conflict.sum())


def assign_splits(files: pd.DataFrame, config: SplitConfig) -> pd.DataFrame:
    """Add a ``split`` column: stratified by class, seeded, sizes from the fractions."""
    rng = np.random.default_rng(config.seed)
    if config.max_per_class is not None:
        picked = []
        for _, group in files.groupby("class", sort=True):
            take = min(len(group), config.max_per_class)
            picked.append(group.iloc[np.sort(rng.permutation(len(group))[:take])])
        files = pd.concat(picked).sort_values("path").reset_index(drop=True)
    counts = files["class"].value_counts()
    if (counts < 3).any():
        small = counts[counts < 3].to_dict()
        raise ValueError(f"classes with fewer than 3 images cannot be split: {small}")
    index = np.arange(len(files))
    try:
        rest, test = train_test_split(index, test_size=config.test_fraction,
                                      stratify=files["class"], random_state=config.seed)
        val_share = config.val_fraction / (1 - config.test_fraction)
        train, val = train_test_split(rest, test_size=val_share,
                                      stratify=files["class"].iloc[rest],
                                      random_state=config.seed)
    except ValueError as exc:
        raise ValueError(f"cannot split {len(files)} images stratified by class with "
                         f"val_fraction={config.val_fraction}, test_fraction="
                         f"{config.test_fraction}: {exc}") from exc
    split = np.empty(len(files), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return files.assign(split=split)


def prepare_split(raw_dir: str | Path, prepared_dir: str | Path, config: SplitConfig) -> dict:
    """Run the whole split step; returns the ``metrics/split.json`` content."""
    raw_dir, prepared_dir = Path(raw_dir), Path(prepared_dir)
    files = scan_raw(raw_dir)
    unique, duplicates, conflicts = drop_duplicates(files)
    table = assign_splits(unique, config)
    class_names = sorted(table["class"].unique())
    label_of = {name: i for i, name in enumerate(class_names)}
    table["label"] = table["class"].map(label_of).astype(np.int64)
    # Rows in a seeded random order within each split, so that the first N test images
    # (what the attack stages take) are a random sample, not the first classes by name.
    split_order = table["split"].map({name: i for i, name in enumerate(SPLITS)})
    shuffle = np.random.default_rng(config.seed).permutation(len(table))
    table = table.assign(_order=split_order, _shuffle=shuffle).sort_values(
        ["_order", "_shuffle"]).drop(columns=["_order", "_shuffle"])
    table["row"] = table.groupby("split").cumcount()
    channels = 3 if config.color == "rgb" else 1
    size = config.image_size
    with atomic_directory(prepared_dir) as tmp:
        for split in SPLITS:
            part = table[table["split"] == split]
            x = np.empty((len(part), channels, size, size), dtype=np.uint8)
            for i, rel in enumerate(tqdm(part["path"], desc=f"resize {split}", unit="img",
                                         disable=None)):
                try:
                    image = decode_image((raw_dir / rel).read_bytes(), draft_size=size)
                except ImageRejected as exc:
                    raise ValueError(f"{raw_dir / rel}: cannot decode ({exc}); "
                                     "rerun the download stage") from exc
                x[i] = fit_image(image, size=size, color=config.color, aspect=config.aspect)
            np.save(tmp / f"{split}_x.npy", x, allow_pickle=False)
            np.save(tmp / f"{split}_y.npy", part["label"].to_numpy(np.int64),
                    allow_pickle=False)
        (tmp / "classes.json").write_text(json.dumps(class_names, indent=2) + "\n")
        table[["split", "row", "path", "class", "label", "sha256"]].to_csv(
            tmp / "index.csv", index=False, lineterminator="\n")
    per_split = table.groupby(["split", "class"]).size()
    return {
        **{split: int((table["split"] == split).sum()) for split in SPLITS},
        "duplicates_removed": int(duplicates),
        "label_conflicts_removed": int(conflicts),
        "classes": len(class_names),
        "per_class": {split: {name: int(per_split.get((split, name), 0))
                              for name in class_names} for split in SPLITS},
        "image_shape": [channels, size, size],
    }
