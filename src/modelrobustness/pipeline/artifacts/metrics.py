"""The stage metrics files ``metrics/<name>.json``: written by each stage, read by the
evaluate stage and the command line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ...utils.io import atomic_write_json
from ..paths import ProjectPaths


def write_metrics(paths: ProjectPaths, name: str, metrics: dict[str, Any]) -> None:
    """``metrics/<name>.json``, key-sorted, atomically."""
    atomic_write_json(paths.metrics(name), metrics)


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
