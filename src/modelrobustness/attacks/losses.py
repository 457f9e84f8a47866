"""What the attacks maximise and when they have succeeded: cross-entropy, the logit margin,
the per-sample objective and the success test."""

from __future__ import annotations

import torch
from torch import nn

LOSSES: tuple[str, ...] = ("ce", "margin")


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
    raise ValueError(f"loss is {loss!r}; expected one of {', '.join(LOSSES)}")


def is_adversarial(logits: torch.Tensor, labels: torch.Tensor, *,
                   targeted: bool) -> torch.Tensor:
    """Untargeted: prediction differs from the label. Targeted: prediction is the target."""
    predicted = logits.argmax(dim=1)
    return predicted == labels if targeted else predicted != labels
