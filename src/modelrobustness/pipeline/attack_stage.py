"""What the attacks of stage ``attack@<model>`` share: read the model and the first
``attack.samples`` test images once, run each attack's evaluation on them, write each
attack's outputs under its own name (``metrics/attack_<attack>_<model>.json``, the
adversarial set, the curve, the example grid)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..evaluation.harness import AttackOutcome
from ..training.gpu import gpu_plan
from ..utils import distributed
from ..utils.torch import Autocast
from .artifacts.adversarial import read_attack_inputs, write_attack_outputs
from .artifacts.metrics import write_metrics
from .params import (
    attack_precision,
    attack_processes,
    attack_samples,
    device,
    load_params,
    seed,
)
from .paths import ProjectPaths

# (model, x, y, *, batch_size, seed, device, ranks) -> outcome
Evaluation = Callable[..., AttackOutcome]


@dataclass(frozen=True)
class AttackRun:
    """One attack of the stage, its parameters already read and checked."""

    attack: str  # names its outputs: pgd, autoattack, ddn
    evaluate: Evaluation
    curve_columns: Sequence[str]
    title: str  # of the example grid; ``{model}`` is the attacked model
    summary: Callable[[Mapping[str, Any]], str]  # the metrics in one line of the log


def robust_summary(m: Mapping[str, Any]) -> str:
    """The log line of an ensemble (PGD's losses, AutoAttack): clean and robust accuracy,
    the robust accuracy after each of its attacks, the seconds."""
    after = ", ".join(f"{k} {v:.4f}" for k, v in m["robust_accuracy_by_attack"].items())
    return (
        f"clean {m['clean_accuracy']:.4f}, robust {m['robust_accuracy']:.4f} "
        f"(after {after}), {m['seconds']:.1f} s"
    )


def attack_stage_processes() -> int:
    """``attack.nproc``, read from params.yaml directly (every torchrun process reads it)."""
    return attack_processes(load_params())


def run_attacks(params: Mapping[str, Any], model_name: str, runs: Sequence[AttackRun]) -> None:
    """Run each of ``runs`` on ``models/<model_name>.pt`` and write its outputs as it ends.

    Every attack starts from the same seed (``seed``), as it would alone: its results do not
    depend on the others or on their order. Under torchrun (``attack.nproc`` above 1) every
    process attacks its share of each call's batches, all gather the results, and rank 0
    alone writes: the outputs are those of one process, byte for byte."""
    paths = ProjectPaths()
    samples, batch_size = attack_samples(params)
    run_seed, precision = seed(params), attack_precision(params)
    with distributed.process_group(device(params)) as (ranks, run_device):
        model, x, y, class_names = read_attack_inputs(paths, model_name, samples, run_device)
        model = in_precision(model, precision, run_device, quiet=not ranks.main)
        for run in runs:
            outcome = run.evaluate(
                model, x, y, batch_size=batch_size, seed=run_seed, device=run_device, ranks=ranks
            )
            if ranks.main:
                _write(paths, run, outcome, x, model_name=model_name, class_names=class_names)


def in_precision(
    model: torch.nn.Module, precision: str, run_device: torch.device, *, quiet: bool = False
) -> torch.nn.Module:
    """The model the attacks run on: itself (fp32 gradients, the default), or on CUDA with
    ``attack.precision`` bf16 or fp16 the same under autocast. Elsewhere the option is
    ignored, and said so."""
    plan = gpu_plan(precision=precision, channels_last=False, compile=False, device=run_device)
    if plan.ignored and not quiet:
        print(
            f"attack.precision={precision} applies on CUDA only; ignored on "
            f"{run_device.type} (the attacks run in fp32)",
            file=sys.stderr,
        )
    if plan.autocast_dtype is None:
        return model
    return Autocast(model, dtype=plan.autocast_dtype, device_type=run_device.type)


def _write(
    paths: ProjectPaths,
    run: AttackRun,
    outcome: AttackOutcome,
    x: torch.Tensor,
    *,
    model_name: str,
    class_names: list[str],
) -> None:
    """Rank 0: one attack's outputs and its log line."""
    write_attack_outputs(
        paths,
        outcome,
        x,
        attack=run.attack,
        model=model_name,
        class_names=class_names,
        curve_columns=run.curve_columns,
        title=run.title.format(model=model_name),
    )
    # the curve is in the plot data (curve_columns); the record keeps the headline
    record = {k: v for k, v in outcome.metrics.items() if k != "curve"}
    write_metrics(paths, f"attack_{run.attack}_{model_name}", record)
    print(f"{run.attack}@{model_name}: {run.summary(outcome.metrics)}", flush=True)
