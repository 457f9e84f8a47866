"""One entry point for every data source: ``download(source, out_dir, ...)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..utils.checks import check_choice
from ..utils.io import atomic_directory, atomic_write_text, csv_text
from .images import DEFAULT_MAX_PIXELS
from .sources.animal_mnist import CLASSES as ANIMAL_MNIST_CLASSES
from .sources.animal_mnist import download_animal_mnist
from .sources.folder import download_folder
from .sources.kaggle import download_kaggle
from .sources.tally import DownloadReport

SOURCES: tuple[str, ...] = ("animal-mnist", "kaggle", "folder")


def download(
    source: str,
    out_dir: str | Path,
    *,
    path: str | Path | None = None,
    classes: Sequence[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cache_dir: Path | None = None,
) -> tuple[DownloadReport, list[str]]:
    """Write ``out_dir/<class>/<file>`` from ``source``; return the report and class names.

    ``out_dir`` is replaced atomically: on any error it is left as it was.
    """
    check_choice("source", source, SOURCES)
    with atomic_directory(out_dir) as tmp:
        if source == "animal-mnist":
            report = download_animal_mnist(tmp, cache_dir=cache_dir)
        elif source == "kaggle":
            report = download_kaggle(tmp, classes=classes, max_pixels=max_pixels)
        else:
            report = download_folder(path, tmp, classes=classes, max_pixels=max_pixels)
    if source == "animal-mnist":
        class_names = list(ANIMAL_MNIST_CLASSES)
    else:
        class_names = sorted(report.per_class)
    return report, class_names


def write_skipped_csv(report: DownloadReport, path: str | Path) -> None:
    """List every skipped file with its reason (columns: path, reason, detail)."""
    atomic_write_text(path, csv_text([("path", "reason", "detail"), *sorted(report.skipped)]))
