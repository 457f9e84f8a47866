"""The on-disk format of a prepared data folder and its reader.

``<split>_x.npy`` (uint8 N x C x H x W), ``<split>_y.npy`` (int64 N) for each of
:data:`SPLITS`, ``classes.json`` (names, index = label) and ``index.csv`` (split, row, path,
class, label, sha256, and the source's width, height and whether it has colour)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..utils.checks import check_choice
from ..utils.errors import UserError

SPLITS: tuple[str, ...] = ("train", "val", "test")

if TYPE_CHECKING:  # only what makes a tensor imports torch: download and split run without
    import torch


class PreparedDataError(UserError, ValueError):
    """A prepared data folder that is not in the current format (rerun the split stage)."""


@dataclass(frozen=True)
class SourceFacts:
    """What the decoder saw of an image before it was resized: its size and whether it has
    colour (channels that differ, not merely an RGB container)."""

    width: int
    height: int
    color: bool


INDEX_COLUMNS: tuple[str, ...] = (
    "split",
    "row",
    "path",
    "class",
    "label",
    "sha256",
    "width",
    "height",
    "color",
)


def _load_array(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    """``np.load`` without pickles; a truncated or foreign file says what to do."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise PreparedDataError(
            f"{path} is truncated or not a numpy array ({exc}): restore it "
            "with `dvc checkout data/prepared` or rerun `dvc repro split`"
        ) from None


def array_shape(prepared_dir: str | Path, split: str) -> tuple[int, ...]:
    """The shape of ``split``'s image array (N x C x H x W), read from its header only."""
    check_choice("split", split, SPLITS)
    path = Path(prepared_dir) / f"{split}_x.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro split` first")
    return tuple(_load_array(path, mmap_mode="r").shape)


def load_split_uint8(prepared_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 N x C x H x W, int64 N) for ``split`` (train, val or test).

    The images are memory-mapped read-only (``np.memmap``): nothing is read until rows are
    indexed, so a split larger than memory can be streamed (:class:`ScaledImages`). The
    labels are read whole."""
    check_choice("split", split, SPLITS)
    prepared_dir = Path(prepared_dir)
    x_path, y_path = prepared_dir / f"{split}_x.npy", prepared_dir / f"{split}_y.npy"
    if not x_path.is_file() or not y_path.is_file():
        raise FileNotFoundError(f"{x_path} not found: run `dvc repro split` first")
    x, y = _load_array(x_path, mmap_mode="r"), _load_array(y_path)
    if x.dtype != np.uint8 or x.ndim != 4 or y.shape != (x.shape[0],):
        raise PreparedDataError(
            f"{prepared_dir}: malformed {split} arrays {x.shape} / "
            f"{y.shape}: rerun `dvc repro split`"
        )
    return x, y


def load_split(
    prepared_dir: str | Path, split: str, *, rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (float32 images in [0, 1], N x C x H x W; int64 labels) for ``split``, in
    memory: every row, or the first ``rows`` (only those are read)."""
    import torch

    x, y = load_split_uint8(prepared_dir, split)
    x, y = x[:rows], y[:rows]
    return ScaledImages(x)[:], torch.from_numpy(np.array(y)).long()


class ScaledImages:
    """A uint8 image array (N x C x H x W; a memory map, mostly) seen as float32 tensors in
    [0, 1]: indexing reads and scales only the rows asked for, so code that takes images in
    batches (``x[i:j]``, ``x[index]``, ``len(x)``) streams a split larger than memory."""

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != np.uint8 or array.ndim != 4:
            raise ValueError(
                f"expected uint8 N x C x H x W images, got {array.dtype} {array.shape}"
            )
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def __getitem__(self, index: object) -> torch.Tensor:
        import torch

        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        rows = np.array(self.array[index])  # a copy: the map stays read-only
        return torch.from_numpy(rows).float().div_(255.0)


def load_class_names(prepared_dir: str | Path) -> list[str]:
    """The class names, index = label."""
    path = Path(prepared_dir) / "classes.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro split` first")
    return list(json.loads(path.read_text()))


def load_sources(prepared_dir: str | Path, split: str) -> list[SourceFacts]:
    """The source facts (size, colour) of ``split``'s images, in row order (``index.csv``)."""
    check_choice("split", split, SPLITS)
    path = Path(prepared_dir) / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro split` first")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(INDEX_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise PreparedDataError(
                f"{path} has no column {', '.join(sorted(missing))} (an "
                "older format): rerun `dvc repro split`"
            )
        rows = [r for r in reader if r["split"] == split]
    rows.sort(key=lambda r: int(r["row"]))
    return [
        SourceFacts(width=int(r["width"]), height=int(r["height"]), color=r["color"] == "True")
        for r in rows
    ]
