"""Choosing the torch device from the ``device`` parameter."""

from __future__ import annotations

import torch

from .checks import InvalidValue


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto`` to CUDA when available (else CPU); pass ``cpu``/``cuda[:N]`` through."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "auto, cpu or cuda[:N]"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise InvalidValue("device", name, expected) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidValue("device", name, "auto or cpu: no CUDA device is available")
    return device
