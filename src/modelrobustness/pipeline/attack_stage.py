"""What the attack stages (``attack_pgd``, ``attack_ddn``) share: read the model and the
first ``attack.samples`` test images, run the evaluation, write the outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ..evaluation.harness import AttackOutcome
from .artifacts.adversarial import read_attack_inputs, write_attack_outputs
from .artifacts.metrics import write_metrics
from .params import attack_samples, device, seed
from .paths import ProjectPaths

# (model, x, y, *, batch_size, seed, device) -> outcome
Evaluation = Callable[..., AttackOutcome]


def run_attack_stage(
    params: Mapping[str, Any],
    *,
    attack: str,
    model_name: str,
    evaluate: Evaluation,
    curve_columns: Sequence[str],
    title: str,
) -> dict[str, Any]:
    """Run ``evaluate`` on ``models/<model_name>.pt`` and write the stage's outputs; returns
    its metrics."""
    paths = ProjectPaths()
    samples, batch_size = attack_samples(params)
    run_device: torch.device = device(params)
    model, x, y, class_names = read_attack_inputs(paths, model_name, samples, run_device)
    outcome = evaluate(model, x, y, batch_size=batch_size, seed=seed(params), device=run_device)
    write_attack_outputs(
        paths,
        outcome,
        x,
        attack=attack,
        model=model_name,
        class_names=class_names,
        curve_columns=curve_columns,
        title=title,
    )
    # the curve is in the plot data (curve_columns); the record keeps the headline
    record = {k: v for k, v in outcome.metrics.items() if k != "curve"}
    write_metrics(paths, f"attack_{attack}_{model_name}", record)
    return outcome.metrics
