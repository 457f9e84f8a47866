"""Stage ``train_baseline``, and what every training stage does: fit from params, log with
DVCLive, save the model, write the metrics (``distill`` adds the teacher and the student)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ..data.domain import domain_profile
from ..data.prepared import load_sources, load_split_uint8
from ..models.classifier import ArchitectureConfig, Classifier
from ..training.fit import EpochScore, FitConfig, LossFn, NonFiniteLoss, Perturbation
from ..training.resume import remove_checkpoint
from ..training.train_classifier import TrainedClassifier, train_classifier
from ..utils import distributed
from ..utils.errors import UserError
from ..utils.io import atomic_directory
from .artifacts.metrics import write_metrics, write_table
from .artifacts.models import save_trained
from .checkpoints import resumption
from .params import config_section, device, load_params, section_config, seed
from .paths import ProjectPaths
from .tracking import epoch_logger, log_confusion, open_live


class TrainingDiverged(UserError):
    """The training loss became NaN or infinite: the message names ``train.lr``."""


TRAIN_NESTED = {
    "augment": ("crop_padding", "flip"),
    "gpu": ("precision", "channels_last", "compile"),
}
TRAIN_SECTION = config_section(FitConfig, nested=TRAIN_NESTED)
MODEL_SECTION = config_section(ArchitectureConfig)


def fit_config(params: Mapping[str, Any]) -> FitConfig:
    """The ``train`` section (``train.augment`` flattened into it)."""
    return section_config(FitConfig, params, "train", nested=TRAIN_NESTED)


def architecture_config(params: Mapping[str, Any]) -> ArchitectureConfig:
    """The ``model`` section."""
    return section_config(ArchitectureConfig, params, "model")


def training_processes(params_file: str = "params.yaml") -> int:
    """``train.nproc``, read from params.yaml directly (under torchrun every process reads
    it; ``dvc.api.params_show`` would contend for the repository's lock)."""
    return fit_config(load_params(params_file)).nproc


def run_training(
    role: str,
    params: Mapping[str, Any],
    *,
    architecture: ArchitectureConfig,
    loss_fn: LossFn = F.cross_entropy,
    train_targets: torch.Tensor | None = None,
    extra_metrics: dict[str, Any] | None = None,
    teacher_predictions: torch.Tensor | None = None,
    paths: ProjectPaths | None = None,
    perturb: Perturbation | None = None,
    score_epoch: EpochScore | None = None,
    select: str = "val_accuracy",
    more_metrics: Callable[[TrainedClassifier], dict[str, Any]] | None = None,
    fit: FitConfig | None = None,
    initial: Classifier | None = None,
) -> TrainedClassifier:
    """Train ``role`` (baseline, teacher, student, adversarial) and write
    ``models/<role>.pt``, ``metrics/train_<role>.json`` and ``plots/train_<role>/``
    (curves, confusion matrix).

    With ``teacher_predictions`` (test split) the metrics get ``teacher_agreement``;
    ``perturb``, ``score_epoch`` and ``select`` go to the fit loop; ``more_metrics(run)``
    adds to the record what only the trained model can tell. ``fit`` replaces the ``train``
    section (a stage with its own epochs); ``initial`` is the trained classifier to fine-tune.

    The fit writes a checkpoint after every epoch (``.checkpoints/train_<role>.pt``) and a
    stage started again after a kill continues from it; the finished stage removes it. A
    NaN or infinite loss stops the stage at once (:class:`TrainingDiverged`).

    Under torchrun (``train.nproc`` above 1) every process trains its share
    (DistributedDataParallel) and rank 0 alone logs, checkpoints and writes the outputs.
    """
    paths = paths or ProjectPaths()
    config, run_seed = fit or fit_config(params), seed(params)
    with distributed.process_group(device(params)) as (ranks, run_device):
        x_train, _ = load_split_uint8(paths.prepared, "train")
        domain = domain_profile(x_train, load_sources(paths.prepared, "train"))
        resume = resumption(
            role,
            params,
            paths=paths,
            device=run_device,
            train_targets=train_targets,
            initial=initial,
        )
        if not ranks.main:  # rank 0 says whether the checkpoint is resumed
            resume = dataclasses.replace(resume, notify=lambda message: None)
        torch.manual_seed(run_seed)  # weight initialisation
        with contextlib.ExitStack() as stack:
            live = None
            if ranks.main:  # the other processes log nothing
                # DVCLive writes into a temporary folder that replaces plots/train_<role> at the
                # end: a failed or killed run leaves the last successful run's curves in place
                live_dir = stack.enter_context(atomic_directory(paths.plots(f"train_{role}")))
                live = stack.enter_context(open_live(str(live_dir)))
            try:
                run = train_classifier(
                    paths.prepared,
                    architecture=architecture,
                    fit_config=config,
                    seed=run_seed,
                    device=run_device,
                    loss_fn=loss_fn,
                    train_targets=train_targets,
                    on_epoch_end=epoch_logger(live) if live is not None else None,
                    desc=role,
                    perturb=perturb,
                    score_epoch=score_epoch,
                    select=select,
                    initial=initial,
                    resume=resume,
                    ranks=ranks,
                )
            except NonFiniteLoss as exc:
                raise TrainingDiverged(
                    f"train_{role}: {exc}; lower train.lr (now {config.lr}) or check the "
                    "data (`dvc exp run -S train.lr=...`)"
                ) from None
            if live is not None:
                log_confusion(live, run.test_labels, run.test_predictions, run.class_names)
        if not ranks.main:
            return run
        run.metrics.update(extra_metrics or {})
        if more_metrics is not None:
            run.metrics.update(more_metrics(run))
        if teacher_predictions is not None:
            agree = (teacher_predictions.cpu() == run.test_predictions).double().mean()
            run.metrics["teacher_agreement"] = float(agree)
        save_trained(paths, role, run.model, domain=domain)
        per_class = run.metrics.pop("per_class")
        write_table(
            paths,
            f"train_{role}_classes",
            [{"class": name, **scores} for name, scores in per_class.items()],
            ["class", "precision", "recall", "f1", "support"],
        )
        write_metrics(paths, f"train_{role}", run.metrics)
        remove_checkpoint(resume)
        print(
            f"{role}: test accuracy {run.metrics['test_accuracy']:.4f}, "
            f"{run.metrics['train_seconds']:.1f} s"
        )
        return run


def main() -> None:
    """Stage ``train_baseline``."""
    params = load_params()
    run_training("baseline", params, architecture=architecture_config(params))
