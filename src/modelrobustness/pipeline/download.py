"""Stage ``download``: fetch the configured data source into ``data/raw/<class>/``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data.download import SOURCES, download, write_skipped_csv
from ..data.images import DEFAULT_MAX_PIXELS
from ..data.sources.tally import DownloadError
from ..utils.checks import Integer, InvalidValue, ListOf, Nullable, OneOf, Rule, Text
from .artifacts.metrics import write_metrics, write_table
from .params import ParamsError, checked_keys, load_params, params_error
from .paths import ProjectPaths

# the data.* keys this stage reads (split reads the others)
DATA_KEYS: dict[str, Rule] = {
    "source": OneOf(SOURCES),
    "path": Nullable(Text("a path to a raw-img folder or an Animals-10 .zip")),
    "classes": Nullable(ListOf(Text("a class folder name"), unique=True)),
    # split decodes with Pillow's limit: a larger one would let download keep what split
    # cannot read
    "max_pixels": Nullable(Integer(minimum=1, maximum=DEFAULT_MAX_PIXELS)),
}


def max_pixels(params: Mapping[str, Any]) -> int:
    """``data.max_pixels``; null means Pillow's own limit."""
    return _pixel_limit(checked_keys(params, "data", {"max_pixels": DATA_KEYS["max_pixels"]}))


def _pixel_limit(values: Mapping[str, Any]) -> int:
    return DEFAULT_MAX_PIXELS if values["max_pixels"] is None else values["max_pixels"]


def download_settings(params: Mapping[str, Any], root: Path = Path(".")) -> dict[str, Any]:
    """``data.source``, ``data.path``, ``data.classes`` and ``data.max_pixels`` (null:
    Pillow's own limit), checked; the folder source needs an existing folder or ``.zip``
    (relative paths from ``root``, the project folder)."""
    values = checked_keys(params, "data", DATA_KEYS)
    if values["source"] == "folder":
        path = values["path"]
        if path is None:
            raise ParamsError(
                "parameter data.path is None; expected a raw-img folder or the "
                "Kaggle animals10 .zip when data.source is 'folder'"
            )
        target = root / path
        if not (target.is_dir() or (target.is_file() and target.suffix.lower() == ".zip")):
            raise ParamsError(
                f"parameter data.path is {path!r}; expected an existing folder "
                f"or .zip file (data.source 'folder'; {target} "
                f"{'is not a .zip' if target.is_file() else 'does not exist'})"
            )
    values["max_pixels"] = _pixel_limit(values)
    return values


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    settings = download_settings(params)
    source, path, classes = settings["source"], settings["path"], settings["classes"]
    try:
        report, class_names = download(
            source, paths.raw, path=path, classes=classes, max_pixels=settings["max_pixels"]
        )
    except InvalidValue as exc:  # the library names its argument: name the key
        raise params_error(exc, f"data.{exc.name}") from None
    except DownloadError as exc:  # the library speaks of its arguments: name the keys
        raise DownloadError(
            f"{exc} (params.yaml: data.source {source!r}, data.path "
            f"{path!r}, data.classes {classes!r})"
        ) from None
    write_skipped_csv(report, paths.download_skipped)
    metrics = {**report.metrics(class_names), "source": source}
    per_class = metrics.pop("per_class")
    metrics.pop("class_names")  # the table below lists them
    write_table(
        paths,
        "download_classes",
        [{"class": name, "images": n} for name, n in per_class.items()],
        ["class", "images"],
    )
    write_metrics(paths, "download", metrics)
    print(
        f"download: {metrics['images']} images in {metrics['classes']} classes, "
        f"{metrics['skipped']} skipped {metrics['skipped_by_reason']}"
    )
