"""What every training stage does: fit from params, log with DVCLive, save, write metrics."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .device import resolve_device
from .files import atomic_write_json
from .models import save_checkpoint
from .runs import TrainedClassifier, train_classifier
from .tracking import epoch_logger, log_confusion, open_live
from .training import FitConfig, LossFn


def run_training_stage(role: str, params: dict[str, Any], *,
                       model_params: dict[str, Any] | None = None,
                       loss_fn: LossFn = F.cross_entropy,
                       train_targets: torch.Tensor | None = None,
                       extra_metrics: dict[str, Any] | None = None,
                       teacher_predictions: torch.Tensor | None = None,
                       prepared_dir: str = "data/prepared") -> TrainedClassifier:
    """Train ``role`` (baseline, teacher, student) and write ``models/<role>.pt``,
    ``metrics/train_<role>.json`` and ``plots/train_<role>/`` (curves, confusion matrix).

    With ``teacher_predictions`` (test split) the metrics get ``teacher_agreement``.
    """
    seed = int(params["seed"])
    torch.manual_seed(seed)  # weight initialisation
    with open_live(f"plots/train_{role}") as live:
        run = train_classifier(
            prepared_dir, model_params=model_params or params["model"],
            fit_config=FitConfig.from_params(params["train"]), seed=seed,
            device=resolve_device(params.get("device", "auto")), loss_fn=loss_fn,
            train_targets=train_targets, on_epoch_end=epoch_logger(live), desc=role,
        )
        log_confusion(live, run.test_labels, run.test_predictions, run.class_names)
    run.metrics.update(extra_metrics or {})
    if teacher_predictions is not None:
        agree = (teacher_predictions.cpu() == run.test_predictions).double().mean()
        run.metrics["teacher_agreement"] = float(agree)
    save_checkpoint(f"models/{role}.pt", run.model, extra={"role": role})
    atomic_write_json(f"metrics/train_{role}.json", run.metrics)
    print(f"{role}: test accuracy {run.metrics['test_accuracy']:.4f}, "
          f"{run.metrics['train_seconds']:.1f} s")
    return run
