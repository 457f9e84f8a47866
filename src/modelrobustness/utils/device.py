"""Choosing the torch device from the ``device`` parameter (or the command line's
``--device``): the names known, and whether this machine has the one asked for."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .checks import InvalidValue, Satisfies

if TYPE_CHECKING:
    import torch

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
_NAME = re.compile(r"auto|cpu|cuda(:\d{1,3})?|mps")


def _device_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidValue("device", value, DEVICE_NAMES)
    return value


# a device name, checked without importing torch (availability: resolve_device)
DEVICE_NAME = Satisfies(_device_name, DEVICE_NAMES)


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto`` to CUDA when available (else CPU); pass ``cpu``, ``cuda[:N]`` and ``mps``
    through when this machine has them. Raises :class:`InvalidValue` naming what is
    available instead."""
    import torch

    name = DEVICE_NAME("device", name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidValue(
                "device",
                name,
                f"auto or cpu: this machine has no CUDA device (torch {torch.__version__})",
            )
        if device.index is not None and device.index >= count:
            raise InvalidValue(
                "device",
                name,
                f"cuda or cuda:0 to cuda:{count - 1}: this machine has {count} CUDA device(s)",
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidValue(
            "device", name, "auto or cpu: MPS (Apple GPU) is not available on this machine"
        )
    return device


def make_deterministic(device: torch.device) -> None:
    """On CUDA: torch's deterministic algorithms only (an op without one is an error, not a
    silent difference), cuDNN's autotuner off, and cuBLAS's workspace fixed as its docs
    require (``CUBLAS_WORKSPACE_CONFIG``; set before the first cuBLAS call). CPU kernels are
    deterministic already: nothing changes there."""
    import os

    import torch

    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
