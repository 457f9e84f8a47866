"""Scoring classifiers: batched prediction and classification metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits of ``model`` (put in eval mode, restored afterwards) on CPU, in input order."""
    was_training = model.training
    model.eval()
    try:
        chunks = [model(x[i:i + batch_size].to(device)).float().cpu()
                  for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not chunks:
        return torch.empty(0, 0)
    return torch.cat(chunks)


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                           class_names: Sequence[str]) -> dict:
    """Accuracy, macro F1 and per-class F1 (sklearn), keyed by class name."""
    labels = list(range(len(class_names)))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
        "per_class_f1": {name: float(v) for name, v in zip(class_names, per_class, strict=True)},
    }
