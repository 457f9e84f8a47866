"""The ``kaggle`` source: Animals-10 (``alessiocorrado99/animals10``) through kagglehub.

kagglehub uses the usual credentials (``KAGGLE_USERNAME``/``KAGGLE_KEY`` or
``~/.kaggle/kaggle.json``) when present; the dataset is public. Credentials are never
printed. Offline or failing, one clear error suggests the ``folder`` source.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from ..images import DEFAULT_MAX_PIXELS
from .folder import download_folder
from .tally import DownloadError, DownloadReport

DATASET = "alessiocorrado99/animals10"


def download_kaggle(
    out_dir: Path,
    *,
    dataset: str = DATASET,
    classes: Sequence[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DownloadReport:
    """Download (or reuse kagglehub's cache of) the dataset and collect its images."""
    try:
        kagglehub = importlib.import_module("kagglehub")
    except ImportError as exc:
        raise DownloadError(
            "the kaggle source needs kagglehub, which is not installed (pip install kagglehub)"
        ) from exc
    failure = None
    try:
        local = kagglehub.dataset_download(dataset)
    except Exception as exc:  # kagglehub raises requests/HTTP/auth errors of many kinds
        failure = type(exc).__name__
    if failure is not None:
        # raised outside the handler, so that the client's exception, whose text or request
        # may hold the credentials, is neither the cause nor the context of this one
        raise DownloadError(
            f"could not download Kaggle dataset {dataset} ({failure}). Offline, or Kaggle "
            "refused the request? Download the archive by hand and use the folder source "
            "on the .zip or its raw-img folder."
        )
    return download_folder(local, out_dir, classes=classes, max_pixels=max_pixels)
