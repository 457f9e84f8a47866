"""The one fit loop for every model the pipeline trains (baseline, teacher, student,
adversarial).

Targets may be hard labels (int64 N) or soft labels (float N x K): the loss function
decides. Adversarial training passes a per-batch ``perturb`` (:mod:`.adversarial`) and a
per-epoch ``score_epoch`` (robust validation accuracy) that picks the kept epoch.
Mini-batch order, augmentation and perturbations draw from an explicit
``torch.Generator`` seeded by the caller, so a run is reproducible without touching global
random state.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..utils.checks import Boolean, Integer, Number, OneOf, check_fields, check_int, ruled
from ..utils.torch import fast_layout, predict_logits
from .augment import augment_batch
from .resume import Resumption, load_checkpoint, rng_states, save_checkpoint, set_rng_states

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EpochCallback = Callable[[int, dict[str, float]], None]
EpochScore = Callable[[nn.Module], dict[str, float]]  # the model in eval mode -> stats


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite (the step size is too large, mostly)."""

    def __init__(self, *, epoch: int, batch: int, value: float) -> None:
        super().__init__(f"the training loss is {value} at epoch {epoch}, batch {batch}")
        self.epoch, self.batch, self.value = epoch, batch, value


@dataclass(frozen=True)
class PerturbedBatch:
    """What the fit loop trains on for one batch: the inputs of its loss and, for TRADES,
    an extra term ``extra_loss(model, logits)`` (``logits``: the model on ``x``, in train
    mode) added to it."""

    x: torch.Tensor
    extra_loss: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None


# (model, x, labels, *, progress, generator) -> PerturbedBatch; progress: epochs done, a
# float (the methods: :mod:`.adversarial`)
Perturbation = Callable[..., PerturbedBatch]

# what every epoch reports; score_epoch may add more
EPOCH_STATS: tuple[str, ...] = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULES: tuple[str, ...] = ("onecycle", "cosine", "constant")


@dataclass(frozen=True)
class FitConfig:
    """Optimizer, schedule and augmentation of one training run.

    ``schedule="onecycle"`` is torch's OneCycleLR with its defaults: it also cycles SGD's
    momentum (Adam's beta1) between 0.85 and 0.95, overriding ``momentum``, which applies to
    the ``cosine`` and ``constant`` schedules. ``eval_batch_size`` only sets how many
    validation images are scored at once.
    """

    epochs: int = ruled(Integer(minimum=1))
    batch_size: int = ruled(Integer(minimum=1))
    optimizer: str = ruled(OneOf(OPTIMIZERS))
    lr: float = ruled(Number(low=0.0, closed_low=False))
    momentum: float = ruled(Number(low=0.0, high=1.0, closed_high=False))
    weight_decay: float = ruled(Number(low=0.0))
    schedule: str = ruled(OneOf(SCHEDULES))
    crop_padding: int = ruled(Integer(minimum=0))
    flip: bool = ruled(Boolean())
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        check_fields(self)
        check_int("eval_batch_size", self.eval_batch_size)


@dataclass
class FitResult:
    """What a fit produced besides the trained model (restored to its best epoch: the
    highest ``selected_by``, ties to the earlier)."""

    best_epoch: int
    best_val_accuracy: float  # val accuracy at the best epoch
    train_seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)
    selected_by: str = "val_accuracy"
    score_seconds: float = 0.0  # spent in score_epoch, not in train_seconds


def _make_optimizer(model: nn.Module, config: FitConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.momentum > 0,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: FitConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def hard_labels(targets: torch.Tensor) -> torch.Tensor:
    """Class indices of hard (N) or soft (N x K) targets."""
    return targets.argmax(dim=1) if targets.ndim == 2 else targets


def fit(
    model: nn.Module,
    train_x: torch.Tensor,
    train_targets: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    config: FitConfig,
    seed: int,
    device: torch.device | str = "cpu",
    loss_fn: LossFn = F.cross_entropy,
    on_epoch_end: EpochCallback | None = None,
    desc: str = "train",
    perturb: Perturbation | None = None,
    score_epoch: EpochScore | None = None,
    select: str = "val_accuracy",
    resume: Resumption | None = None,
) -> FitResult:
    """Train ``model`` in place and restore the weights of its best validation epoch.

    ``train_x`` is float [0, 1]; ``loss_fn(logits, targets)`` returns the mean loss of a
    batch. ``perturb(model, x, labels, progress=epochs_done, generator=...)`` replaces
    each (augmented) batch by the inputs to train on and may add a loss term
    (:class:`PerturbedBatch`); train_loss is then the loss with that term and
    train_accuracy the accuracy on the inputs trained on (TRADES: the clean batch). After
    each epoch the validation accuracy is measured (eval mode), ``score_epoch(model)`` adds
    its stats, and ``on_epoch_end(epoch, stats)`` is called with train_loss,
    train_accuracy, val_loss, val_accuracy, lr and those. The kept epoch has the highest
    ``stats[select]``; ties keep the earlier epoch. ``train_seconds`` leaves out the time
    ``score_epoch`` takes (``score_seconds``).

    With ``resume``, a checkpoint is written after every epoch (:mod:`.resume`), and a
    matching one found at the start is continued from: the epochs it holds are replayed to
    ``on_epoch_end`` and the run ends as an uninterrupted one would. A NaN or infinite
    loss stops the run at once with :class:`NonFiniteLoss`.
    """
    if len(train_x) != len(train_targets) or len(val_x) != len(val_y):
        raise ValueError("images and targets must have the same length")
    if score_epoch is None and select not in EPOCH_STATS:
        raise KeyError(
            f"select={select!r} is not among the epoch's stats {list(EPOCH_STATS)}"
            " (score_epoch adds others)"
        )
    device = torch.device(device)
    fast_layout(model.to(device), device)  # channels-last on CPU; back to NCHW at the end
    generator = torch.Generator().manual_seed(seed)
    optimizer = _make_optimizer(model, config)
    steps_per_epoch = -(-len(train_x) // config.batch_size)
    scheduler = _make_scheduler(optimizer, config, config.epochs * steps_per_epoch)
    best_state, best_epoch, best_val, best_score = None, 0, -1.0, -float("inf")
    history: list[dict[str, float]] = []
    seen, score_seconds, elapsed = 0, 0.0, 0.0
    saved = load_checkpoint(resume) if resume is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        set_rng_states(saved["rng"])
        best_state, best_epoch = saved["best_state"], saved["best_epoch"]
        best_val, best_score = saved["best_val"], saved["best_score"]
        history, seen = saved["history"], saved["seen"]
        score_seconds, elapsed = saved["score_seconds"], saved["elapsed"]
        if on_epoch_end is not None:  # the loggers see every epoch once, in order
            for done in history:
                on_epoch_end(int(done["epoch"]), {k: v for k, v in done.items() if k != "epoch"})
    start = time.perf_counter() - elapsed
    bar = tqdm(range(len(history) + 1, config.epochs + 1), desc=desc, unit="epoch", disable=None)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        loss_sum, correct = 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            index = order[begin : begin + config.batch_size]
            xb = augment_batch(
                train_x[index],
                crop_padding=config.crop_padding,
                flip=config.flip,
                generator=generator,
            ).to(device)
            tb = train_targets[index].to(device)
            extra = None
            if perturb is not None:
                batch = perturb(
                    model,
                    xb,
                    hard_labels(tb),
                    progress=epoch - 1 + begin / len(order),
                    generator=generator,
                )
                xb, extra = batch.x, batch.extra_loss
            logits = model(xb)
            loss = loss_fn(logits, tb)
            if extra is not None:
                loss = loss + extra(model, logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            batch_loss = float(loss.detach())
            if not math.isfinite(batch_loss):
                raise NonFiniteLoss(
                    epoch=epoch, batch=begin // config.batch_size + 1, value=batch_loss
                )
            loss_sum += batch_loss * len(index)
            correct += int((logits.argmax(1) == hard_labels(tb)).sum())
            seen += len(index)
        val_logits = predict_logits(model, val_x, batch_size=config.eval_batch_size, device=device)
        val_loss = float(F.cross_entropy(val_logits, val_y))
        val_accuracy = float((val_logits.argmax(1) == val_y).float().mean())
        stats = dict(
            zip(
                EPOCH_STATS,
                (
                    loss_sum / len(train_x),
                    correct / len(train_x),
                    val_loss,
                    val_accuracy,
                    float(optimizer.param_groups[0]["lr"]),
                ),
                strict=True,
            )
        )
        if score_epoch is not None:
            model.eval()
            scoring = time.perf_counter()
            stats.update(score_epoch(model))
            score_seconds += time.perf_counter() - scoring
        if select not in stats:
            raise KeyError(f"select={select!r} is not among the epoch's stats {sorted(stats)}")
        history.append({"epoch": epoch, **stats})
        if stats[select] > best_score:
            best_score, best_val, best_epoch = stats[select], val_accuracy, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{stats['train_loss']:.3f}", val_acc=f"{val_accuracy:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, stats)
        if resume is not None:
            save_checkpoint(
                resume,
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "generator": generator.get_state(),
                    "rng": rng_states(),
                    "best_state": best_state,
                    "best_epoch": best_epoch,
                    "best_val": best_val,
                    "best_score": best_score,
                    "history": history,
                    "seen": seen,
                    "score_seconds": score_seconds,
                    "elapsed": time.perf_counter() - start,
                },
            )
    seconds = time.perf_counter() - start - score_seconds
    if best_state is None:
        raise ValueError(f"no epoch had a comparable {select!r} (NaN in every epoch?)")
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)  # saved weights keep the usual layout
    model.eval()
    return FitResult(
        best_epoch=best_epoch,
        best_val_accuracy=best_val,
        train_seconds=seconds,
        images_per_second=seen / max(seconds, 1e-9),
        history=history,
        selected_by=select,
        score_seconds=score_seconds,
    )
