"""The trained models ``models/<role>.pt`` (baseline, teacher, student)."""

from __future__ import annotations

import torch

from ...models.checkpoint import load_model, save_checkpoint
from ...models.classifier import Classifier
from ..paths import ProjectPaths


def save_trained(paths: ProjectPaths, role: str, model: Classifier) -> None:
    """``models/<role>.pt`` with the role recorded."""
    save_checkpoint(paths.model(role), model, extra={"role": role})


def load_trained(paths: ProjectPaths, role: str, device: torch.device | str) -> Classifier:
    """``models/<role>.pt`` on ``device``, in eval mode."""
    return load_model(paths.model(role), device=device)
