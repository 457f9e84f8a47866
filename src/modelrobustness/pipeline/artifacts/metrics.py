"""The stage metrics files: ``metrics/<name>.json`` (each stage's record, tracked in git, the
same bytes for the same params), its timing apart in ``metrics/timing/<name>.json``
(git-ignored, so a rerun leaves git clean), and detail tables ``metrics/<name>.csv``
(per-class counts, per-subset rates). Written by each stage, read by the evaluate stage and
the command line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...utils.io import atomic_write_json, atomic_write_text, table_csv
from ..paths import ProjectPaths

# keys that measure time: the only ones two runs with the same params may disagree on
TIMING_KEYS: tuple[str, ...] = (
    "seconds",
    "train_seconds",
    "attack_seconds",
    "images_per_second",
    "seconds_by_attack",
    "guard_seconds",
)


def write_metrics(paths: ProjectPaths, name: str, metrics: Mapping[str, Any]) -> None:
    """``metrics/<name>.json`` without the timing keys, and those in
    ``metrics/timing/<name>.json``; key-sorted, atomically."""
    atomic_write_json(
        paths.metrics(name), {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    )
    timing = {k: metrics[k] for k in TIMING_KEYS if k in metrics}
    if timing:
        atomic_write_json(paths.timing(name), timing)


def write_table(
    paths: ProjectPaths, name: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """A detail table ``metrics/<name>.csv`` (not a DVC metric: one row per class, subset
    or case)."""
    atomic_write_text(paths.detail(name), table_csv(rows, columns))


def read_metrics(paths: ProjectPaths, name: str) -> dict[str, Any]:
    """``metrics/<name>.json``; a missing or broken file says what to do."""
    path = paths.metrics(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro` to produce it")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def read_all(paths: ProjectPaths, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: metrics}`` for each of ``names``."""
    return {name: read_metrics(paths, name) for name in names}
