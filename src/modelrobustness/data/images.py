"""Safe image decoding: every file is fully decoded before it counts.

``decode_image`` turns bytes into an 8-bit ``L`` or ``RGB`` PIL image with EXIF orientation
applied, or raises :class:`ImageRejected` with one of :data:`SKIP_REASONS`.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..utils.checks import InvalidValue
from ..utils.errors import UserError
from .prepared import SourceFacts

# Pillow's own default limit (about 89.5 megapixels): larger images are refused as bombs.
DEFAULT_MAX_PIXELS = 89_478_485
# The ``info`` entry of a decoded image holding its source's size (width, height).
SOURCE_SIZE = "source_size"
# Larger files are refused before reading (a photo of Animals-10 is well under 1 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024

SKIP_REASONS: tuple[str, ...] = (
    "empty",  # zero-byte file
    "not_image",  # not a recognised image format (text, random bytes, ...)
    "truncated",  # a valid header but the pixel data ends early
    "corrupt",  # recognised format that fails to decode for another reason
    "decompression_bomb",  # more pixels than the max_pixels limit
)

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}

if TYPE_CHECKING:  # only what makes a tensor imports torch: download and split run without
    import torch


class ImageRejected(ValueError):
    """An input file that is not a usable image; ``reason`` is one of SKIP_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _to_8bit(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit ``L`` or ``RGB``.

    16-bit grayscale is scaled (v * 255 / 65535) instead of clipped, whatever its values (a dark
    image stays dark); 32-bit integers beyond 16 bits and floats are scaled by their peak;
    transparent images are composited onto white; CMYK, YCbCr, LAB and palette images go
    through Pillow's converters.
    """
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        peak = float(values.max())
        # Pillow opens 16-bit PNG as I;16 and 16-bit PGM as I (on older Pillow, PNG too):
        # the same pixels must give the same grey levels
        top = 65535.0 if mode != "F" and peak <= 65535 else max(peak, 1.0)
        scaled = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled)
    if mode == "1":
        return image.convert("L")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        composed = Image.alpha_composite(background, rgba).convert("RGB")
        return composed if mode not in ("LA", "La") else composed.convert("L")
    if mode == "P":
        return image.convert("RGB")
    return image.convert("RGB")


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> Image.Image:
    """Decode ``data`` completely into an 8-bit ``L`` or ``RGB`` image, EXIF-oriented.

    ``draft_size`` lets the JPEG decoder scale down by a power of two while decoding (never
    below ``draft_size`` pixels on the short side), which makes resizing large photos cheap.
    Raises :class:`ImageRejected` for empty, non-image, truncated, corrupt or oversized input.
    """
    if len(data) == 0:
        raise ImageRejected("empty", "zero-byte file")
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we decide ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageRejected("decompression_bomb", str(exc)) from exc
        except UnidentifiedImageError as exc:
            raise ImageRejected("not_image", "not a recognised image format") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("corrupt", f"cannot open: {exc}") from exc
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageRejected("corrupt", f"image has size {width}x{height}")
        if width * height > max_pixels:
            raise ImageRejected(
                "decompression_bomb",
                f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}",
            )
        try:
            if draft_size is not None and image.format == "JPEG":
                scale = min(width, height) / draft_size
                if scale >= 2:
                    image.draft(
                        "RGB" if image.mode != "L" else "L",
                        (int(width / scale) + 1, int(height / scale) + 1),
                    )
            image.load()
            loaded = image.size
            image = ImageOps.exif_transpose(image)
            image = _to_8bit(image)
            # the source's own size, after the EXIF orientation (a draft decodes it smaller)
            turned = image.size != loaded
            image.info[SOURCE_SIZE] = (height, width) if turned else (width, height)
        except Image.DecompressionBombError as exc:
            raise ImageRejected("decompression_bomb", str(exc)) from exc
        except OSError as exc:
            reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
            raise ImageRejected(reason, str(exc)) from exc
        except (SyntaxError, ValueError, TypeError, IndexError, EOFError) as exc:
            raise ImageRejected("corrupt", f"{type(exc).__name__}: {exc}") from exc
    return image


def fit_image(image: Image.Image, *, size: int, color: str, aspect: str) -> np.ndarray:
    """Resize to ``size`` x ``size`` and return a uint8 array C x H x W.

    ``aspect="crop"`` scales the short side to ``size`` and centre-crops the long side;
    ``aspect="pad"`` scales the long side to ``size`` and pads the rest with black.
    ``color`` is ``"rgb"`` (3 channels) or ``"gray"`` (1 channel, ITU-R 601 luma).
    """
    image = image.convert("RGB" if color == "rgb" else "L")
    resample = Image.Resampling.BICUBIC
    if aspect == "crop":
        out = ImageOps.fit(image, (size, size), method=resample)
    elif aspect == "pad":
        out = ImageOps.pad(image, (size, size), method=resample, color=0)
    else:
        raise InvalidValue("aspect", aspect, "'crop' or 'pad'")
    array = np.asarray(out, dtype=np.uint8)
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


# mean absolute difference between an image's channels (grey levels) above which it counts
# as colour: JPEG noise in a grey photo stays well below
COLOR_LEVELS = 2.0


def source_facts(image: Image.Image) -> SourceFacts:
    """The facts of a decoded (``L`` or ``RGB``) image (:func:`decode_image`'s)."""
    width, height = image.info.get(SOURCE_SIZE, image.size)
    color = False
    if image.mode == "RGB":
        small = np.asarray(image.reduce(max(1, min(image.size) // 64)), dtype=np.int16)
        spread = np.abs(np.diff(small, axis=2)).mean() if small.size else 0.0
        color = bool(spread > COLOR_LEVELS)
    return SourceFacts(width=int(width), height=int(height), color=color)


def read_limited(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path`` (symbolic links followed), at most
    ``max_bytes`` of them: a larger file is refused before reading, a pipe or device is
    refused without reading (:class:`ImageRejected`); never reads more than ``max_bytes + 1``
    bytes."""
    path = Path(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ImageRejected("not_image", "not a regular file (a pipe, socket or device)")
    if info.st_size > max_bytes:
        raise too_large(info.st_size, max_bytes)
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we looked
        raise too_large(len(data), max_bytes)
    return data


def too_large(size: int, max_bytes: int) -> ImageRejected:
    """A file refused for its size before it is decoded (counted as a decompression bomb)."""
    return ImageRejected(
        "decompression_bomb", f"file of {size:,} bytes exceeds the {max_bytes:,}-byte limit"
    )


class UnreadableImage(UserError, ValueError):
    """A user image that cannot be read or decoded; the message names the file."""


def read_image(
    path: str | os.PathLike,
    *,
    size: int,
    channels: int,
    aspect: str = "crop",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[torch.Tensor, SourceFacts]:
    """``path`` as a float 1 x C x size x size tensor in [0, 1], decoded and resized exactly
    as the ``split`` stage prepares the data (safe decoder, EXIF orientation, bicubic), and
    the facts of the source. Files above ``max_bytes`` are refused before reading, images
    above ``max_pixels`` before decoding (the pipeline's limits)."""
    import torch

    path = Path(path)
    try:
        if path.is_dir():
            raise UnreadableImage(f"{path} is a folder, not an image file")
        data = read_limited(path, max_bytes)
    except ImageRejected as exc:
        raise UnreadableImage(f"{path} is not a usable image ({exc.reason}: {exc.detail})") from exc
    except OSError as exc:
        raise UnreadableImage(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        image = decode_image(data, max_pixels=max_pixels, draft_size=size)
    except ImageRejected as exc:
        raise UnreadableImage(f"{path} is not a usable image ({exc.reason}: {exc.detail})") from exc
    facts = source_facts(image)
    array = fit_image(image, size=size, color="rgb" if channels == 3 else "gray", aspect=aspect)
    return torch.tensor(array, dtype=torch.float32).div(255.0).unsqueeze(0), facts


def load_image(
    path: str | os.PathLike, *, size: int, channels: int, aspect: str = "crop"
) -> torch.Tensor:
    """:func:`read_image`'s tensor alone."""
    return read_image(path, size=size, channels=channels, aspect=aspect)[0]
