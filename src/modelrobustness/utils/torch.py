"""Running a model: in eval mode with every submodule's mode restored, in batches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


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
