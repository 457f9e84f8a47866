"""Data sources, safe image decoding, the split and reading the prepared arrays."""

from .download import SOURCES, download, write_skipped_csv
from .images import SKIP_REASONS, ImageRejected, decode_image, fit_image
from .prepared import load_class_names, load_split, load_split_uint8
from .report import DownloadError, DownloadReport
from .split import SplitConfig, prepare_split

__all__ = [
    "SKIP_REASONS",
    "SOURCES",
    "DownloadError",
    "DownloadReport",
    "ImageRejected",
    "SplitConfig",
    "decode_image",
    "download",
    "fit_image",
    "load_class_names",
    "load_split",
    "load_split_uint8",
    "prepare_split",
    "write_skipped_csv",
]
