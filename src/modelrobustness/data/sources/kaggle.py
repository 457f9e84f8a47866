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
        raise DownloadError("the kaggle source needs kagglehub, which is not installed "
                            "(pip install kagglehub)") from exc
    try:
        local = kagglehub.dataset_download(dataset)
    except Exception as exc:  # kagglehub raises requests/HTTP/auth errors of many kinds
        raise DownloadError(
            f"could not download Kaggle dataset {dataset} ({type(exc).__name__}). Offline, "
            "or Kaggle refused the request? Download the archive by hand and set "
            "use the folder source on the .zip or its raw-img folder."
        ) from exc
    return download_folder(local, out_dir, classes=classes, max_pixels=max_pixels)
