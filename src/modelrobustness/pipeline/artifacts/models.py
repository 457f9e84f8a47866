"""The trained models ``models/<role>.pt`` (baseline, teacher, student)."""

from __future__ import annotations

from typing import Any

import torch

from ...data.prepared import array_shape, load_class_names
from ...models.checkpoint import load_model, save_checkpoint
from ...models.classifier import Classifier
from ...utils.errors import UserError
from ..paths import ProjectPaths

# the stage that writes each role's model
MADE_BY = {
    "baseline": "train_baseline",
    "teacher": "train_teacher",
    "student": "train_student",
    "adversarial": "train_adversarial",
}


class ForeignModel(UserError):
    """``models/<role>.pt`` was trained for other data (classes, channels or image size)."""


def save_trained(
    paths: ProjectPaths, role: str, model: Classifier, *, domain: dict[str, Any]
) -> None:
    """``models/<role>.pt`` with the role and the training data's profile
    (:func:`~modelrobustness.data.domain.domain_profile`) recorded."""
    save_checkpoint(paths.model(role), model, extra={"role": role, "domain": domain})


def load_trained(paths: ProjectPaths, role: str, device: torch.device | str) -> Classifier:
    """``models/<role>.pt`` on ``device``, in eval mode; :class:`ForeignModel` when it was
    trained for other data than ``data/prepared`` holds (another class list, channel count
    or image size: a file copied in, or outputs of another experiment)."""
    model = load_model(paths.model(role), device=device)
    _, channels, height, width = array_shape(paths.prepared, "test")
    classes = load_class_names(paths.prepared)
    config = model.config
    fitted = (
        config.num_classes == len(classes)
        and config.in_channels == channels
        and config.image_size == height == width
        and (not config.class_names or list(config.class_names) == classes)
    )
    if not fitted:
        stage = MADE_BY.get(role, f"train_{role}")
        raise ForeignModel(
            f"{paths.model(role)} is a model of {config.num_classes} classes "
            f"{list(config.class_names) or ''} on {config.in_channels} x {config.image_size} "
            f"x {config.image_size} images, but data/prepared holds {len(classes)} classes "
            f"{classes} on {channels} x {height} x {width} images: restore the matching "
            f"model with `dvc checkout {paths.model(role)}` or retrain it with "
            f"`dvc repro {stage}`"
        )
    return model
