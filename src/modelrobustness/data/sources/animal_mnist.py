"""The ``animal-mnist`` source: 10,000 28x28 animal silhouettes from PyPI (MIT licence).

The wheel is fetched with ``pip download`` (never installed: its metadata wrongly requires
tensorflow), checked against a pinned sha256 and read with an unpickler that only allows
numpy's array reconstruction.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .tally import DownloadError, DownloadReport

REQUIREMENT = "animal-mnist==0.4"
WHEEL_NAME = "animal_mnist-0.4-py3-none-any.whl"
WHEEL_SHA256 = "aeebf3d9de4552d6fd2d5701424e1a5b9020f8e5115d68df9db252f2f53ce2ce"
DATA_MEMBER = "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
LABEL_MEMBER = "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz"
# Label order of the package (checked by eye on its images): alphabetical.
CLASSES: tuple[str, ...] = (
    "bear",
    "bird",
    "cat",
    "cow",
    "dog",
    "elephant",
    "giraffe",
    "horse",
    "sheep",
    "zebra",
)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy's array reconstruction."""

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle API
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def default_cache_dir() -> Path:
    """Cache outside the repository: ``$MODELROBUSTNESS_CACHE`` or ``$XDG_CACHE_HOME``."""
    if os.environ.get("MODELROBUSTNESS_CACHE"):
        return Path(os.environ["MODELROBUSTNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelrobustness"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """Return the verified wheel, downloading it with pip only when not cached yet."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL_NAME
    if wheel.is_file() and sha256_file(wheel) == WHEEL_SHA256:
        return wheel
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
            tmp,
            REQUIREMENT,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        fetched = Path(tmp) / WHEEL_NAME
        if result.returncode != 0 or not fetched.is_file():
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise DownloadError(
                f"pip could not download {REQUIREMENT} (exit {result.returncode}): {tail}\n"
                "Check access to the package index, or use the folder source."
            )
        actual = sha256_file(fetched)
        if actual != WHEEL_SHA256:
            raise DownloadError(
                f"{WHEEL_NAME} has sha256 {actual}, expected {WHEEL_SHA256}; refusing to use it"
            )
        shutil.move(str(fetched), wheel)
    return wheel


def _load_array(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    raw = gzip.decompress(archive.read(member))
    array = NumpyOnlyUnpickler(io.BytesIO(raw)).load()
    if not isinstance(array, np.ndarray):
        raise DownloadError(f"{member}: expected a numpy array, got {type(array).__name__}")
    return array


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read (images uint8 N x 28 x 28, labels int64 N) from the wheel, checking both."""
    with zipfile.ZipFile(wheel) as archive:
        images = _load_array(archive, DATA_MEMBER)
        labels = _load_array(archive, LABEL_MEMBER)
    if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != (images.shape[0],):
        raise DownloadError(
            f"{wheel.name}: unexpected arrays {images.dtype}{images.shape} / "
            f"{labels.dtype}{labels.shape}"
        )
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise DownloadError(f"{wheel.name}: labels outside 0..{len(CLASSES) - 1}")
    return images, labels


def write_pngs(images: np.ndarray, labels: np.ndarray, out_dir: Path) -> DownloadReport:
    """Write ``out_dir/<class>/<index>.png`` for each image (grayscale PNG)."""
    report = DownloadReport()
    for name in CLASSES:
        (out_dir / name).mkdir(parents=True, exist_ok=True)
    pairs = enumerate(zip(images, labels, strict=True))
    for index, (pixels, label) in tqdm(
        pairs, total=len(images), desc="write png", unit="img", disable=None
    ):
        name = CLASSES[int(label)]
        Image.fromarray(pixels).save(out_dir / name / f"{index:05d}.png", optimize=False)
        report.keep(name)
    return report


def download_animal_mnist(out_dir: Path, *, cache_dir: Path | None = None) -> DownloadReport:
    """Fetch the pinned wheel (cached) and write its images as PNGs under ``out_dir``."""
    images, labels = read_wheel(fetch_wheel(cache_dir))
    return write_pngs(images, labels, Path(out_dir))
