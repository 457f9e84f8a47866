"""Build, fit and score one classifier on the prepared splits (baseline, teacher or student)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.prepared import ScaledImages, load_class_names, load_split_uint8
from ..models.classifier import ArchitectureConfig, Classifier, ModelConfig, build_model
from ..utils.distributed import SINGLE, Ranks
from ..utils.stats import confusion_matrix
from ..utils.torch import predict_logits
from .fit import EpochCallback, EpochScore, FitConfig, FitResult, LossFn, Perturbation, fit
from .resume import Resumption


@dataclass
class TrainedClassifier:
    """A trained model with its fit record and test predictions."""

    model: Classifier
    fit: FitResult
    class_names: list[str]
    test_labels: torch.Tensor
    test_predictions: torch.Tensor
    metrics: dict[str, Any]


STATS_CHUNK = 1024  # images read at a time by channel_stats


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (Bessel-corrected, at least 1e-6) of uint8
    images N x C x H x W in [0, 1] units, read in chunks (``x`` may be a memory map larger
    than memory). The sums are exact integers, so the result does not depend on the
    chunking."""
    if x.dtype != np.uint8:
        raise ValueError(f"channel_stats expects uint8 images, got {x.dtype}")
    channels = x.shape[1]
    total, squares = [0] * channels, [0] * channels
    for begin in range(0, len(x), STATS_CHUNK):
        chunk = np.asarray(x[begin : begin + STATS_CHUNK], dtype=np.int64)
        for c in range(channels):
            total[c] += int(chunk[:, c].sum())
            squares[c] += int((chunk[:, c] * chunk[:, c]).sum())
    count = len(x) * int(np.prod(x.shape[2:]))
    means, stds = [], []
    for c in range(channels):
        variance = (squares[c] - total[c] * total[c] / count) / max(count - 1, 1)
        means.append(total[c] / count / 255.0)
        stds.append(max(math.sqrt(max(variance, 0.0)) / 255.0, 1e-6))
    return means, stds


def model_config_for_data(
    architecture: ArchitectureConfig, *, class_names: Sequence[str], train_x: np.ndarray
) -> ModelConfig:
    """The architecture plus what the data says (classes, channels, size, pixel stats)."""
    mean, std = channel_stats(train_x)
    return ModelConfig(
        arch=architecture.arch,
        num_classes=len(class_names),
        in_channels=int(train_x.shape[1]),
        image_size=int(train_x.shape[-1]),
        mean=mean,
        std=std,
        width=architecture.width,
        class_names=tuple(class_names),
    )


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """The share of predictions equal to the labels (sklearn's ``accuracy_score``)."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
) -> dict:
    """Accuracy, macro F1 and, keyed by class name, each class's precision, recall, F1 and
    support, from the confusion matrix.

    The same numbers as sklearn's ``precision_recall_fscore_support(average=None,
    zero_division=0)`` and ``f1_score(average="macro", zero_division=0)`` over every class
    (the tests check equality): precision tp / predicted, recall tp / support,
    F1 2 tp / (support + predicted), each 0 where its denominator is. Computed here rather
    than by sklearn because importing sklearn (which loads scipy and pandas) costs each
    training stage about 2.5 s on 2 cores, four times per `dvc repro`."""
    k = len(class_names)
    confusion = confusion_matrix(y_true, y_pred, classes=k)
    tp = np.diag(confusion).astype(np.float64)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return np.divide(
            numerator, denominator, out=np.zeros(k), where=denominator > 0, dtype=np.float64
        )

    precision, recall = ratio(tp, predicted), ratio(tp, support)
    f1 = ratio(2.0 * tp, support + predicted)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
    }


def _split(prepared_dir: str | Path, split: str) -> tuple[np.ndarray, torch.Tensor]:
    x, y = load_split_uint8(prepared_dir, split)
    return x, torch.from_numpy(np.array(y)).long()


def train_classifier(
    prepared_dir: str | Path,
    *,
    architecture: ArchitectureConfig,
    fit_config: FitConfig,
    seed: int,
    device: torch.device | str = "cpu",
    loss_fn: LossFn = F.cross_entropy,
    train_targets: torch.Tensor | None = None,
    on_epoch_end: EpochCallback | None = None,
    desc: str = "train",
    perturb: Perturbation | None = None,
    score_epoch: EpochScore | None = None,
    select: str = "val_accuracy",
    initial: Classifier | None = None,
    resume: Resumption | None = None,
    ranks: Ranks = SINGLE,
) -> TrainedClassifier:
    """Build ``architecture`` for the data, fit it on the train split, score it on val and
    test.

    ``initial`` (fine-tuning) starts from a copy of that trained classifier instead of
    fresh weights; it must be the model ``architecture`` builds for this data.

    ``train_targets`` replaces the train labels (soft labels for distillation);
    ``perturb``, ``score_epoch`` and ``select`` go to :func:`~.fit.fit` (adversarial
    training), and so do ``resume`` (per-epoch checkpoints) and ``ranks`` (a ``torchrun``
    group). The splits are memory-mapped and streamed: nothing holds a whole split in
    memory. Weight initialisation draws from torch's global RNG: seed it before calling.
    """
    class_names = load_class_names(prepared_dir)
    train_x, train_y = _split(prepared_dir, "train")
    val_x, val_y = _split(prepared_dir, "val")
    test_x, test_y = _split(prepared_dir, "test")
    config = model_config_for_data(architecture, class_names=class_names, train_x=train_x)
    if initial is None:
        model = build_model(config, pretrained=architecture.pretrained)
    elif initial.config != config:
        raise ValueError(
            f"cannot fine-tune a {initial.config} as a {config}: train it with "
            "the same model section and data"
        )
    else:
        model = copy.deepcopy(initial)
    result = fit(
        model,
        train_x,
        train_y if train_targets is None else train_targets,
        ScaledImages(val_x),
        val_y,
        config=fit_config,
        seed=seed,
        device=device,
        loss_fn=loss_fn,
        on_epoch_end=on_epoch_end,
        desc=desc,
        perturb=perturb,
        score_epoch=score_epoch,
        select=select,
        resume=resume,
        ranks=ranks,
    )
    batch = fit_config.eval_batch_size
    val_pred = predict_logits(model, ScaledImages(val_x), batch_size=batch, device=device).argmax(1)
    test_pred = predict_logits(model, ScaledImages(test_x), batch_size=batch, device=device)
    test_pred = test_pred.argmax(1)
    scores = classification_metrics(test_y.numpy(), test_pred.numpy(), class_names)
    metrics = {
        "test_accuracy": scores["accuracy"],
        "val_accuracy": accuracy(val_y.numpy(), val_pred.numpy()),
        "macro_f1": scores["macro_f1"],
        "per_class": scores["per_class"],
        "arch": architecture.arch,
        "width": architecture.width,
        "epochs": fit_config.epochs,
        "best_epoch": result.best_epoch,
        "train_images": len(train_x),
        "train_seconds": round(result.train_seconds, 3),
        "images_per_second": round(result.images_per_second, 1),
    }
    return TrainedClassifier(
        model=model,
        fit=result,
        class_names=class_names,
        test_labels=test_y,
        test_predictions=test_pred,
        metrics=metrics,
    )
