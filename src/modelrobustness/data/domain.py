"""How far an image is from the data a model was trained on.

``domain_profile`` summarises a training split (the size and colour of the source images,
the brightness and contrast of the prepared ones); the training stage stores it in the
checkpoint. ``domain_warnings`` compares one user image with it, so that a prediction on a
640x402 colour photo by a model trained on 28x28 grey silhouettes comes with the reason to
doubt it. Plain dicts and lists: the profile travels in a ``weights_only`` checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .prepared import SourceFacts

# A source image more than this factor larger (or smaller) than every training source is
# called far from the training data.
SIZE_FACTOR = 4.0
# Share of colour sources below which a model counts as trained on grayscale images (and
# above 1 - this, on colour ones).
COLOR_SHARE = 0.05
# Quantiles of the training images' brightness and contrast that bound the usual range,
# and the margin (in [0, 1] pixel units) allowed beyond them.
QUANTILES = (0.005, 0.995)
MARGIN = 0.05
# images per chunk when profiling a split: memory stays bounded for a memory-mapped split
CHUNK = 1024


def _range(values: np.ndarray) -> list[float]:
    low, high = np.quantile(values, QUANTILES)
    return [round(float(low), 4), round(float(high), 4)]


def domain_profile(x: np.ndarray, sources: Sequence[SourceFacts]) -> dict[str, Any]:
    """The profile of a training split: ``x`` its prepared uint8 images (N x C x H x W; a
    memory map is read in chunks), ``sources`` the facts of their source files."""
    if len(x) == 0 or len(sources) == 0:
        raise ValueError("a domain profile needs at least one image")
    brightness, contrast = np.empty(len(x)), np.empty(len(x))
    for begin in range(0, len(x), CHUNK):
        pixels = x[begin : begin + CHUNK].reshape(-1, int(np.prod(x.shape[1:])))
        pixels = pixels.astype(np.float64) / 255.0
        brightness[begin : begin + len(pixels)] = pixels.mean(axis=1)
        contrast[begin : begin + len(pixels)] = pixels.std(axis=1)
    widths = [s.width for s in sources]
    heights = [s.height for s in sources]
    return {
        "image_size": int(x.shape[-1]),
        "channels": int(x.shape[1]),
        "source_width": [int(min(widths)), int(max(widths))],
        "source_height": [int(min(heights)), int(max(heights))],
        "color_share": round(sum(s.color for s in sources) / len(sources), 4),
        "brightness": _range(brightness),
        "contrast": _range(contrast),
    }


def _size_text(low: Sequence[int], high: Sequence[int]) -> str:
    return (
        f"{low[0]}x{low[1]}"
        if list(low) == list(high)
        else f"{low[0]}x{low[1]} to {high[0]}x{high[1]}"
    )


def domain_warnings(profile: Mapping[str, Any], source: SourceFacts, x: np.ndarray) -> list[str]:
    """Why one image (``source`` its facts, ``x`` what the model sees: C x H x W in [0, 1])
    lies outside the training data of ``profile``; empty when nothing stands out."""
    warnings = []
    widths, heights = profile["source_width"], profile["source_height"]
    side, low_side = max(source.width, source.height), min(source.width, source.height)
    if side > SIZE_FACTOR * max(widths[1], heights[1]) or low_side * SIZE_FACTOR < min(
        widths[0], heights[0]
    ):
        trained = _size_text((widths[0], heights[0]), (widths[1], heights[1]))
        warnings.append(
            f"a {source.width}x{source.height} image (the model was trained on {trained} images)"
        )
    share = profile["color_share"]
    if source.color and share < COLOR_SHARE:
        warnings.append("a colour image (the model was trained on grayscale images)")
    elif not source.color and share > 1 - COLOR_SHARE and profile["channels"] == 3:
        warnings.append("a grayscale image (the model was trained on colour images)")
    pixels = np.asarray(x, dtype=np.float64).reshape(-1)
    for name, value in (("brightness", pixels.mean()), ("contrast", pixels.std())):
        low, high = profile[name]
        if not low - MARGIN <= value <= high + MARGIN:
            warnings.append(f"{name} {value:.2f} (the training images: {low:.2f} to {high:.2f})")
    return warnings
