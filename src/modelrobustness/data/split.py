"""The ``split`` step: drop exact duplicates, split stratified, decode and resize once.

Outputs in ``prepared_dir``: ``<split>_x.npy`` (uint8 N x C x H x W), ``<split>_y.npy``
(int64 N), ``classes.json`` and ``index.csv`` (:data:`~.prepared.INDEX_COLUMNS`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from ..utils.checks import (
    SEED,
    Integer,
    InvalidValue,
    Nullable,
    Number,
    OneOf,
    check_fields,
    ruled,
)
from ..utils.errors import UserError
from ..utils.io import atomic_directory, csv_text
from .images import ImageRejected, SourceFacts, decode_image, fit_image, source_facts
from .prepared import INDEX_COLUMNS, SPLITS

COLORS: tuple[str, ...] = ("rgb", "gray")
ASPECTS: tuple[str, ...] = ("crop", "pad")
FRACTION = Number(low=0.0, high=1.0, closed_low=False, closed_high=False)
# a stratified three-way split needs at least this many images of a class
MIN_PER_CLASS = 3


class SplitError(UserError, ValueError):
    """The images at hand cannot be split as configured (too few per class, say)."""


@dataclass(frozen=True)
class SplitConfig:
    """How to split and resize; fractions are of the de-duplicated images."""

    val_fraction: float = ruled(FRACTION)
    test_fraction: float = ruled(FRACTION)
    image_size: int = ruled(Integer(minimum=8, maximum=4096))
    color: str = ruled(OneOf(COLORS))
    aspect: str = ruled(OneOf(ASPECTS))
    max_per_class: int | None = ruled(Nullable(Integer(minimum=MIN_PER_CLASS)))
    seed: int = ruled(SEED)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.val_fraction + self.test_fraction >= 1:
            raise InvalidValue(
                "test_fraction",
                self.test_fraction,
                f"below 1 - val_fraction = {1 - self.val_fraction:g}",
            )


def scan_raw(raw_dir: Path) -> pd.DataFrame:
    """One row per file under ``raw_dir/<class>/``: path (relative), class, sha256."""
    rows = []
    for class_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            rows.append((path.relative_to(raw_dir).as_posix(), class_dir.name, digest))
    if not rows:
        raise SplitError(f"{raw_dir} holds no images in class folders; run the download stage")
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


def _split_sizes(n: int, fraction: float) -> tuple[int, int]:
    """(kept, split off) of ``n`` images at ``fraction``, rounded as scikit-learn does."""
    held = math.ceil(fraction * n)
    return n - held, held


def _check_stratifiable(n: int, n_classes: int, config: SplitConfig) -> None:
    """A stratified split needs every split to hold at least one image of each class; say
    which split falls short and how many images would do, instead of scikit-learn's
    message."""
    rest, test = _split_sizes(n, config.test_fraction)
    train, val = _split_sizes(rest, config.val_fraction / (1 - config.test_fraction))
    sizes = {"train": train, "val": val, "test": test}
    short = {name: size for name, size in sizes.items() if size < n_classes}
    if not short:
        return
    fractions = {
        "train": 1 - config.val_fraction - config.test_fraction,
        "val": config.val_fraction,
        "test": config.test_fraction,
    }
    needed = max(math.ceil(n_classes / fractions[name]) for name in short)
    raise SplitError(
        f"cannot split {n} images of {n_classes} classes stratified by class: the "
        + ", ".join(f"{name} split would get {size}" for name, size in short.items())
        + f" images, fewer than one per class ({n_classes}). Each split needs at least "
        f"{n_classes} images: give about {needed} images or more (split.max_per_class "
        f"{config.max_per_class}), or raise the fraction of the short split "
        f"(split.val_fraction {config.val_fraction}, split.test_fraction "
        f"{config.test_fraction})"
    )


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
    if (counts < MIN_PER_CLASS).any():
        small = counts[counts < MIN_PER_CLASS].to_dict()
        raise SplitError(f"classes with fewer than {MIN_PER_CLASS} images cannot be split: {small}")
    _check_stratifiable(len(files), len(counts), config)
    index = np.arange(len(files))
    try:
        rest, test = train_test_split(
            index, test_size=config.test_fraction, stratify=files["class"], random_state=config.seed
        )
        val_share = config.val_fraction / (1 - config.test_fraction)
        train, val = train_test_split(
            rest, test_size=val_share, stratify=files["class"].iloc[rest], random_state=config.seed
        )
    except ValueError as exc:
        raise SplitError(
            f"cannot split {len(files)} images stratified by class with "
            f"val_fraction={config.val_fraction}, test_fraction="
            f"{config.test_fraction}: {exc}"
        ) from exc
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
    table = (
        table.assign(_order=split_order, _shuffle=shuffle)
        .sort_values(["_order", "_shuffle"])
        .drop(columns=["_order", "_shuffle"])
    )
    table["row"] = table.groupby("split").cumcount()
    channels = 3 if config.color == "rgb" else 1
    size = config.image_size
    facts: dict[str, SourceFacts] = {}
    with atomic_directory(prepared_dir) as tmp:
        for split in SPLITS:
            part = table[table["split"] == split]
            x = np.empty((len(part), channels, size, size), dtype=np.uint8)
            for i, rel in enumerate(
                tqdm(part["path"], desc=f"resize {split}", unit="img", disable=None)
            ):
                try:
                    image = decode_image((raw_dir / rel).read_bytes(), draft_size=size)
                except ImageRejected as exc:
                    raise SplitError(
                        f"{raw_dir / rel}: cannot decode ({exc}); rerun the download stage"
                    ) from exc
                facts[rel] = source_facts(image)
                x[i] = fit_image(image, size=size, color=config.color, aspect=config.aspect)
            np.save(tmp / f"{split}_x.npy", x, allow_pickle=False)
            np.save(tmp / f"{split}_y.npy", part["label"].to_numpy(np.int64), allow_pickle=False)
        (tmp / "classes.json").write_text(json.dumps(class_names, indent=2) + "\n")
        table = table.assign(
            **{
                name: [getattr(facts[rel], name) for rel in table["path"]]
                for name in ("width", "height", "color")
            }
        )
        rows = table[list(INDEX_COLUMNS)].itertuples(index=False, name=None)
        (tmp / "index.csv").write_bytes(csv_text([INDEX_COLUMNS, *rows]).encode("utf-8"))
    per_split = table.groupby(["split", "class"]).size()
    return {
        **{split: int((table["split"] == split).sum()) for split in SPLITS},
        "duplicates_removed": int(duplicates),
        "label_conflicts_removed": int(conflicts),
        "classes": len(class_names),
        "per_class": {
            split: {name: int(per_split.get((split, name), 0)) for name in class_names}
            for split in SPLITS
        },
        "image_shape": [channels, size, size],
    }
