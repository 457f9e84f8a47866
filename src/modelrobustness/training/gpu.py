"""The fit loop's GPU options (``train.gpu``): mixed precision, ``channels_last`` and
``torch.compile``. They apply on CUDA only; on any other device they are ignored, and the
run says so once.

Mixed precision runs the forward pass and the loss under ``torch.autocast`` (bf16, or fp16
with a ``GradScaler`` so small fp16 gradients do not underflow: Micikevicius et al. 2018,
"Mixed Precision Training", Sec. 3.2); weights, optimizer state and gradients stay fp32.
The attacks are never autocast: their gradients stay fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class GpuPlan:
    """What the options mean on this device: the autocast dtype (None: fp32), whether a
    grad scaler is needed, the memory format and whether the training forward is compiled."""

    autocast_dtype: torch.dtype | None
    scaled: bool
    channels_last: bool
    compiled: bool
    ignored: tuple[str, ...] = ()  # the options asked for that this device ignores

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The context of the forward pass and the loss."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """A grad scaler for fp16 (a no-op one otherwise: ``enabled=False``)."""
        return torch.amp.GradScaler(device.type, enabled=self.scaled)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the memory format the model was put in."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def prepare(self, model: nn.Module) -> None:
        """Put ``model`` (in place) in the memory format asked for."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)

    def compile(self, model: nn.Module) -> nn.Module | Callable[..., torch.Tensor]:
        """The training forward: ``torch.compile(model)`` when asked, else ``model``."""
        return torch.compile(model) if self.compiled else model


def gpu_plan(
    *, precision: str, channels_last: bool, compile: bool, device: torch.device
) -> GpuPlan:
    """The plan of ``train.gpu``'s options on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type != "cuda":
        asked = [f"precision={precision}"] if precision != "fp32" else []
        asked += ["channels_last"] if channels_last else []
        asked += ["compile"] if compile else []
        return GpuPlan(None, False, False, False, ignored=tuple(asked))
    return GpuPlan(
        autocast_dtype=_DTYPES.get(precision),
        scaled=precision == "fp16",
        channels_last=channels_last,
        compiled=compile,
    )
