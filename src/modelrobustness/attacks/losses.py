"""What the attacks maximise and when they have succeeded: cross-entropy, the logit margin,
the difference of logits ratio (DLR), the per-sample objectives and the success test."""

from __future__ import annotations

import torch
from torch import nn

LOSSES: tuple[str, ...] = ("ce", "margin")
APGD_LOSSES: tuple[str, ...] = ("ce", "dlr")


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample ``max_{j != label} z_j - z_label`` (Carlini & Wagner 2017, f_6 with k=0)."""
    label_logit = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.amax(dim=1) - label_logit


def dlr(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample difference of logits ratio (Croce & Hein 2020, Eq. 5), to be maximised:
    ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`` with ``z_pi`` the logits sorted in
    decreasing order. Invariant to shifting and rescaling the logits; needs 3 classes."""
    ordered = logits.sort(dim=1, descending=True).values
    scale = ordered[:, 0] - ordered[:, 2] + 1e-12
    return margin(logits, labels) / scale


def targeted_dlr(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample targeted DLR (Croce & Hein 2020, Eq. 6), to be maximised:
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``; needs 4 classes."""
    ordered = logits.sort(dim=1, descending=True).values
    scale = ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12
    label_logit = logits.gather(1, labels[:, None]).squeeze(1)
    target_logit = logits.gather(1, targets[:, None]).squeeze(1)
    return (target_logit - label_logit) / scale


def objective(
    logits: torch.Tensor, labels: torch.Tensor, *, loss: str, targeted: bool
) -> torch.Tensor:
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


def is_adversarial(logits: torch.Tensor, labels: torch.Tensor, *, targeted: bool) -> torch.Tensor:
    """Untargeted: prediction differs from the label. Targeted: prediction is the target."""
    predicted = logits.argmax(dim=1)
    return predicted == labels if targeted else predicted != labels
