"""Small image files of every kind, written by the tests themselves: good ones, and a corpus
of bad ones with the reason each must be skipped for."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def random_rgb(seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """A random RGB image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def good_image_bytes(seed: int) -> bytes:
    return encode(random_rgb(seed), "PNG")


# name -> (bytes, expected skip reason); cached: the bomb takes a moment to encode
@functools.lru_cache(maxsize=1)
def bad_corpus() -> dict[str, tuple[bytes, str]]:
    png = encode(random_rgb(100, (64, 64)), "PNG")
    jpg = encode(random_rgb(101, (64, 64)), "JPEG", quality=90)
    rng = np.random.default_rng(7)
    garbled = png[:100] + bytes(rng.integers(0, 256, len(png) - 100, dtype=np.uint8))
    bomb = encode(Image.new("1", (10_000, 10_000)), "PNG")  # 100 Mpx, 12 kB on disk
    return {
        "zero.jpg": (b"", "empty"),
        "zero2.png": (b"", "empty"),
        "notes.txt": (b"this is not an image\n", "not_image"),
        "random.jpg": (bytes(rng.integers(0, 256, 500, dtype=np.uint8)), "not_image"),
        "half.png": (png[: len(png) // 2], "truncated"),
        "half.jpg": (jpg[: len(jpg) // 2], "truncated"),
        "garbled.png": (garbled, "corrupt"),
        "bomb.png": (bomb, "decompression_bomb"),
    }


def write_class_folders(root: Path, layout: dict[str, int], *, seed: int = 0) -> None:
    """``root/<folder>/img<i>.png`` with ``layout[folder]`` distinct random images each."""
    counter = seed
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (root / folder / f"img{i:03d}.png").write_bytes(good_image_bytes(counter))
            counter += 1
