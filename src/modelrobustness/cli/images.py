"""A user's image out: an adversarial image written to an 8-bit PNG without leaving the
attack's budget (reading one is ``data.images.load_image``)."""

from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image

from ..utils.io import atomic_write_bytes


def quantize_within(
    x_adv: torch.Tensor, x: torch.Tensor, *, linf_budget: float | None
) -> torch.Tensor:
    """``x_adv`` on the 8-bit grid of ``x`` (which is on it already), in [0, 1].

    With ``linf_budget``: rounded to the nearest grey level, then clamped into the L-inf
    ball around ``x``. Without: each pixel's change is truncated towards ``x``, so no
    pixel moves further than in ``x_adv`` and no Lp norm of the perturbation grows (the
    L2 budget of PGD or any norm DDN found is kept)."""
    base = torch.round(x * 255.0)
    if linf_budget is None:
        change = x_adv * 255.0 - base  # in grey levels; 1e-3 absorbs float error on-grid
        return (base + torch.trunc(change + torch.sign(change) * 1e-3)).clamp(0, 255) / 255.0
    reach = np.floor(linf_budget * 255.0 + 1e-6)
    levels = torch.minimum(torch.maximum(torch.round(x_adv * 255.0), base - reach), base + reach)
    return levels.clamp(0, 255) / 255.0


def png_bytes(x: torch.Tensor) -> bytes:
    """A 1 x C x H x W tensor on the 8-bit grid as PNG bytes (L or RGB)."""
    array = torch.round(x[0] * 255.0).to(torch.uint8).numpy()
    # uint8 H x W gives an L image, H x W x 3 an RGB one
    image = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | os.PathLike, x: torch.Tensor) -> None:
    """Write ``x`` (1 x C x H x W, 8-bit grid) as a PNG, atomically."""
    atomic_write_bytes(path, png_bytes(x))
