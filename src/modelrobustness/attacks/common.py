"""Shared pieces of the attacks: argument checks, attack objectives, eval-mode context."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

LOSSES: tuple[str, ...] = ("ce", "margin")


def check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Images must be floats in [0, 1] (N x ...); labels int64 of shape (N,)."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError("x must be a floating-point tensor of images in [0, 1]")
    if x.ndim < 2:
        raise ValueError(f"x must be batched (N x ...), got shape {tuple(x.shape)}")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(f"x must lie in [0, 1]; got values in [{float(x.min()):.4g}, "
                         f"{float(x.max()):.4g}] (normalization belongs inside the model)")
    if not torch.is_tensor(y) or y.dtype != torch.long or y.shape != (x.shape[0],):
        raise ValueError(f"y must be an int64 tensor of shape ({x.shape[0]},), got "
                         f"{getattr(y, 'dtype', type(y))} {tuple(getattr(y, 'shape', ()))}")
    if y.device != x.device:
        raise ValueError(f"x is on {x.device} but y on {y.device}")


def check_positive(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def check_count(name: str, value: int, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


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


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample ``max_{j != label} z_j - z_label`` (Carlini & Wagner 2017, f_6 with k=0)."""
    label_logit = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.amax(dim=1) - label_logit


def objective(logits: torch.Tensor, labels: torch.Tensor, *, loss: str,
              targeted: bool) -> torch.Tensor:
    """Per-sample quantity the attacker maximises.

    Untargeted: cross-entropy to the true label, or the margin of the best other class.
    Targeted (``labels`` are the targets): minus cross-entropy to the target, or the margin
    of the target over the best other class.
    """
    if loss == "ce":
        ce = nn.functional.cross_entropy(logits, labels, reduction="none")
        return -ce if targeted else ce
    if loss == "margin":
        m = margin(logits, labels)
        return -m if targeted else m
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


def is_adversarial(logits: torch.Tensor, labels: torch.Tensor, *,
                   targeted: bool) -> torch.Tensor:
    """Untargeted: prediction differs from the label. Targeted: prediction is the target."""
    predicted = logits.argmax(dim=1)
    return predicted == labels if targeted else predicted != labels
