"""Stage ``split``: de-duplicate, split stratified and resize into ``data/prepared/``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.split import SplitConfig, prepare_split
from .artifacts.metrics import write_metrics
from .params import gather, load_params, make_config, reject_unknown
from .paths import ProjectPaths

# SplitConfig field -> params key
SPLIT_KEYS = {"val_fraction": "split.val_fraction", "test_fraction": "split.test_fraction",
              "max_per_class": "split.max_per_class", "image_size": "data.image_size",
              "color": "data.color", "aspect": "data.aspect", "seed": "seed"}


def split_config(params: Mapping[str, Any]) -> SplitConfig:
    """The ``split`` section with ``data.image_size``, ``data.color``, ``data.aspect`` and
    ``seed``."""
    reject_unknown(params, "split", {"val_fraction", "test_fraction", "max_per_class"})
    return make_config(SplitConfig, gather(params, SPLIT_KEYS), keys=SPLIT_KEYS)


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    metrics = prepare_split(paths.raw, paths.prepared, split_config(params))
    write_metrics(paths, "split", metrics)
    print(f"split: train {metrics['train']}, val {metrics['val']}, test {metrics['test']}, "
          f"{metrics['duplicates_removed']} duplicates removed")
