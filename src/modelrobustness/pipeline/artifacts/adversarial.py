"""An attack stage's inputs (a trained model, the first test images) and outputs: the
adversarial set ``data/adversarial/<attack>_<model>.pt``,
and under ``plots/attack_<attack>_<model>/`` the curve CSV and ``examples.png``; and the
reader of the adversarial set."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...data.prepared import load_class_names, load_split
from ...evaluation.harness import AttackOutcome
from ...models.inference import inference_copy
from ...reporting.figures import example_grid, pick_examples
from ...utils.io import atomic_write_bytes, atomic_write_text, table_csv, tensors_to_bytes
from ..paths import ProjectPaths
from .models import load_trained


def read_attack_inputs(
    paths: ProjectPaths, model: str, samples: int, device: torch.device | str
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[str]]:
    """``models/<model>.pt`` on ``device`` (its inference copy: the same function, faster),
    the first ``samples`` test images and labels (CPU) and the class names."""
    classifier = inference_copy(load_trained(paths, model, device), device=device)
    x, y = load_split(paths.prepared, "test", rows=samples)
    return classifier, x, y, load_class_names(paths.prepared)


def write_attack_outputs(
    paths: ProjectPaths,
    outcome: AttackOutcome,
    x: torch.Tensor,
    *,
    attack: str,
    model: str,
    class_names: Sequence[str],
    curve_columns: Sequence[str],
    title: str,
) -> None:
    """The adversarial set, the curve (``curve_columns``) and the example grid."""
    atomic_write_bytes(paths.adversarial(attack, model), tensors_to_bytes(outcome.artifact()))
    atomic_write_text(paths.attack_curve(attack, model), table_csv(outcome.curve, curve_columns))
    rows = pick_examples(outcome.success)
    example_grid(
        paths.examples(attack, model),
        x[rows],
        outcome.x_adv[rows],
        outcome.labels[rows],
        outcome.clean_predictions[rows],
        outcome.adv_predictions[rows],
        class_names,
        title=title,
    )


def read_adversarial(paths: ProjectPaths, attack: str, model: str) -> dict[str, torch.Tensor]:
    """The adversarial set of ``attack`` on ``model`` (tensors only)."""
    path = paths.adversarial(attack, model)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro attack_{attack}` first")
    return torch.load(path, map_location="cpu", weights_only=True)


def read_successful(paths: ProjectPaths, attack: str, model: str) -> torch.Tensor:
    """The adversarial images of ``attack`` on ``model`` that fooled it."""
    saved = read_adversarial(paths, attack, model)
    return saved["x_adv"][saved["success"]]
