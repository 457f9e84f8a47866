"""Writing an attack stage's outputs: adversarial set, metrics, curve CSV, example grid."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .files import atomic_write_bytes, atomic_write_json, atomic_write_text
from .reporting import example_grid, pick_examples
from .robustness import AttackOutcome
from .serialization import table_csv, tensors_to_bytes


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
