"""Choosing the torch device from the ``device`` parameter."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto`` to CUDA when available (else CPU); pass ``cpu``/``cuda[:N]`` through."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"parameter device is {name!r}; expected auto, cpu or cuda[:N]") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("parameter device is 'cuda' but no CUDA device is available; use auto")
    return device
