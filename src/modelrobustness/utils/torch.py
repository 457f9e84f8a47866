"""Running a model: in the memory format its device runs fastest, in eval mode with every
submodule's mode restored, in batches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def fast_layout(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model``, in place, in the memory format its convolutions run fastest in on
    ``device``: channels-last (NHWC) on CPU, where oneDNN's convolution and pooling kernels
    vectorize over channels (training the default vgg_small at 28 px on 2 cores: 1.6x the
    images per second of the default NCHW layout; a forward pass 1.5x); on CUDA and other
    devices the format is left alone. Only 4-D weights change layout; values do not."""
    if torch.device(device).type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode; afterwards restore every submodule's own previous mode
    (``model.train(flag)`` would set all submodules to one flag)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits of ``model`` (put in eval mode, restored afterwards) on CPU, in input order."""
    with eval_mode(model):
        chunks = [
            model(x[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(x), batch_size)
        ]
        if not chunks:  # an empty batch still has a number of classes
            return model(x.to(device)).float().cpu()
    return torch.cat(chunks)


def predict_labels(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Predicted class indices (CPU), batched like :func:`predict_logits`."""
    return predict_logits(model, x, batch_size=batch_size, device=device).argmax(1)


class Autocast(nn.Module):
    """``model`` run under ``torch.autocast`` at ``dtype`` (bf16 or fp16), its logits cast
    back to float32: what an attack asked to run in mixed precision attacks. Gradients with
    respect to the input then flow through the reduced-precision kernels."""

    def __init__(self, model: nn.Module, *, dtype: torch.dtype, device_type: str) -> None:
        super().__init__()
        self.model, self.dtype, self.device_type = model, dtype, device_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            return self.model(x).float()
