"""The trained models ``models/<role>.pt`` (baseline, teacher, student)."""

from __future__ import annotations

from typing import Any

import torch

from ...models.checkpoint import load_model, save_checkpoint
from ...models.classifier import Classifier
from ..paths import ProjectPaths


def save_trained(paths: ProjectPaths, role: str, model: Classifier, *,
                 domain: dict[str, Any]) -> None:
    """``models/<role>.pt`` with the role and the training data's profile
    (:func:`~modelrobustness.data.domain.domain_profile`) recorded."""
    save_checkpoint(paths.model(role), model, extra={"role": role, "domain": domain})


def load_trained(paths: ProjectPaths, role: str, device: torch.device | str) -> Classifier:
    """``models/<role>.pt`` on ``device``, in eval mode."""
    return load_model(paths.model(role), device=device)
