"""Stage ``split``: de-duplicate, split stratified and resize into ``data/prepared/``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.split import SplitConfig, prepare_split
from ..utils.checks import field_rules
from .artifacts.metrics import write_metrics, write_table
from .params import Section, checked_keys, checked_section, load_params, make_config, seed
from .paths import ProjectPaths

# SplitConfig field -> params key
SPLIT_KEYS = {
    "val_fraction": "split.val_fraction",
    "test_fraction": "split.test_fraction",
    "max_per_class": "split.max_per_class",
    "image_size": "data.image_size",
    "color": "data.color",
    "aspect": "data.aspect",
    "seed": "seed",
}
_RULES = field_rules(SplitConfig)
SPLIT_SECTION = Section(
    {field: _RULES[field] for field, key in SPLIT_KEYS.items() if key.startswith("split.")}
)
# the data.* keys this stage reads (download reads the others)
DATA_KEYS = {field: _RULES[field] for field, key in SPLIT_KEYS.items() if key.startswith("data.")}


def split_config(params: Mapping[str, Any]) -> SplitConfig:
    """The ``split`` section with ``data.image_size``, ``data.color``, ``data.aspect`` and
    ``seed``."""
    values = {
        **checked_section(params, "split", SPLIT_SECTION),
        **checked_keys(params, "data", DATA_KEYS),
        "seed": seed(params),
    }
    return make_config(SplitConfig, values, keys=SPLIT_KEYS)


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    metrics = prepare_split(paths.raw, paths.prepared, split_config(params))
    per_class = metrics.pop("per_class")  # {split: {class: count}}
    names = list(next(iter(per_class.values())))
    write_table(
        paths,
        "split_classes",
        [
            {"class": name, **{split: per_class[split][name] for split in per_class}}
            for name in names
        ],
        ["class", *per_class],
    )
    write_metrics(paths, "split", metrics)
    print(
        f"split: train {metrics['train']}, val {metrics['val']}, test {metrics['test']}, "
        f"{metrics['duplicates_removed']} duplicates removed"
    )
