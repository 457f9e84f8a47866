"""An attack stage's inputs (model, first test images) and outputs (adversarial set,
metrics, curve CSV, example grid)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .data import load_class_names, load_split
from .files import atomic_write_bytes, atomic_write_json, atomic_write_text
from .models import Classifier, load_model
from .reporting import example_grid, pick_examples
from .robustness import AttackOutcome
from .serialization import table_csv, tensors_to_bytes


def load_attack_inputs(model: str, samples: int, device: torch.device | str, *,
                       prepared_dir: str = "data/prepared"
                       ) -> tuple[Classifier, torch.Tensor, torch.Tensor, list[str]]:
    """``models/<model>.pt`` on ``device`` and the first ``samples`` test images (CPU)."""
    classifier = load_model(f"models/{model}.pt", device=device)
    x, y = load_split(prepared_dir, "test")
    return classifier, x[:samples], y[:samples], load_class_names(prepared_dir)


def save_attack_outputs(outcome: AttackOutcome, x: torch.Tensor, *, attack: str, model: str,
                        class_names: Sequence[str], curve_name: str,
                        curve_columns: Sequence[str], title: str) -> None:
    """``data/adversarial/<attack>_<model>.pt``, ``metrics/attack_<attack>_<model>.json``
    and, under ``plots/attack_<attack>_<model>/``, the curve CSV and ``examples.png``."""
    stem = f"{attack}_{model}"
    atomic_write_bytes(f"data/adversarial/{stem}.pt", tensors_to_bytes(outcome.artifact()))
    atomic_write_json(f"metrics/attack_{stem}.json", outcome.metrics)
    atomic_write_text(f"plots/attack_{stem}/{curve_name}", table_csv(outcome.curve,
                                                                     curve_columns))
    rows = pick_examples(outcome.success)
    example_grid(f"plots/attack_{stem}/examples.png", x[rows], outcome.x_adv[rows],
                 outcome.labels[rows], outcome.clean_predictions[rows],
                 outcome.adv_predictions[rows], class_names, title=title)
