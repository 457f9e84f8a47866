"""Stages ``train_teacher`` and ``train_student``: defensive distillation (the teacher
trained at temperature T, the student on its soft labels at T, deployed at T = 1)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..data.prepared import ScaledImages, load_split_uint8
from ..defenses.distillation import soft_cross_entropy, soft_labels, temperature_cross_entropy
from ..models.classifier import ArchitectureConfig
from ..utils.checks import Number
from ..utils.torch import predict_labels
from .artifacts.models import load_trained
from .params import (
    Section,
    checked_section,
    config_section,
    device,
    load_params,
    section_config,
)
from .paths import ProjectPaths
from .train import run_training

DISTILL_SECTION = Section(
    {
        "temperature": Number(low=0.0, closed_low=False),
        "model": config_section(ArchitectureConfig, optional=True, nullable=True),  # overrides
    }
)


def temperature(params: Mapping[str, Any]) -> float:
    """``distill.temperature``."""
    return checked_section(params, "distill", DISTILL_SECTION)["temperature"]


def distilled_architecture(params: Mapping[str, Any]) -> ArchitectureConfig:
    """The ``model`` section with ``distill.model``'s overrides."""
    return section_config(ArchitectureConfig, params, "model", overrides="distill.model")


def train_teacher() -> None:
    """Stage ``train_teacher``: cross-entropy of softmax(logits / T)."""
    params = load_params()
    t = temperature(params)
    run_training(
        "teacher",
        params,
        architecture=distilled_architecture(params),
        loss_fn=functools.partial(temperature_cross_entropy, temperature=t),
        extra_metrics={"temperature": t},
    )


def train_student() -> None:
    """Stage ``train_student``: trained on the teacher's soft labels at T."""
    params, paths = load_params(), ProjectPaths()
    t, run_device = temperature(params), device(params)
    teacher = load_trained(paths, "teacher", run_device)
    train_x, _ = load_split_uint8(paths.prepared, "train")  # memory-mapped, read in batches
    targets = soft_labels(teacher, ScaledImages(train_x), temperature=t, device=run_device)
    test_x, _ = load_split_uint8(paths.prepared, "test")
    run_training(
        "student",
        params,
        architecture=distilled_architecture(params),
        loss_fn=functools.partial(soft_cross_entropy, temperature=t),
        train_targets=targets,
        extra_metrics={"temperature": t},
        teacher_predictions=predict_labels(teacher, ScaledImages(test_x), device=run_device),
    )
