"""DVCLive glue for the training stages (with the stage modules, the only DVC-aware code)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from dvclive import Live

from ..training.fit import EpochCallback


def open_live(directory: str) -> Live:
    """A Live logger that never edits dvc.yaml nor saves experiments by itself."""
    return Live(directory, dvcyaml=False, save_dvc_exp=False, report=None)


def epoch_logger(live: Live) -> EpochCallback:
    """Log each epoch's stats as one DVCLive step (``<dir>/plots/metrics/<name>.tsv``)."""

    def log(epoch: int, stats: dict[str, float]) -> None:
        for name, value in stats.items():
            live.log_metric(name, round(float(value), 6))
        live.next_step()

    return log


def log_confusion(
    live: Live,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    class_names: Sequence[str],
    name: str = "confusion_matrix.json",
) -> None:
    """Write the confusion-matrix data (DVC's ``confusion`` template) with class names."""
    actual = [class_names[int(i)] for i in labels]
    predicted = [class_names[int(i)] for i in predictions]
    live.log_sklearn_plot("confusion_matrix", actual, predicted, name=name)
