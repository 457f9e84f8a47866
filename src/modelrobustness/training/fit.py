"""The one fit loop for every model the pipeline trains (baseline, teacher, student,
adversarial).

Targets may be hard labels (int64 N) or soft labels (float N x K): the loss function
decides. Adversarial training passes a per-batch ``perturb`` (:mod:`.adversarial`) and a
per-epoch ``score_epoch`` (robust validation accuracy) that picks the kept epoch.
The mini-batch order is a seeded permutation per epoch (:mod:`.batches`); augmentation and
perturbations draw from an explicit ``torch.Generator`` seeded by the caller, so a run is
reproducible without touching global random state.

Under ``torchrun`` (``ranks.world`` processes, :mod:`.distributed`) the model is wrapped in
``DistributedDataParallel``: each process trains on its share of every global batch, the
epoch's statistics are summed over the processes (padding rows left out) and validation is
shared out and gathered, so every process sees the same numbers and keeps the same epoch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..data.prepared import ScaledImages
from ..utils.checks import (
    Boolean,
    Integer,
    InvalidValue,
    Number,
    OneOf,
    check_fields,
    check_int,
    ruled,
)
from ..utils.distributed import (
    SINGLE,
    Ranks,
    gather_objects,
    gather_rows,
    shard_bounds,
    shard_sizes,
    sum_across,
)
from ..utils.seeds import derived_seed
from ..utils.torch import fast_layout, predict_logits
from .augment import augment_batch
from .batches import EpochBatches, RowReader, batch_loader, to_unit_float
from .gpu import PRECISIONS, gpu_plan
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

    ``nproc`` is how many processes the training stage starts (``torchrun``; the fit runs in
    whichever process group it is given), ``batch_size`` the global batch they share.
    ``loader_workers`` are the DataLoader's worker processes (0: batches are read in the
    training process). ``precision``, ``channels_last`` and ``compile`` are the GPU options
    (:mod:`.gpu`), ignored on CPU.
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
    nproc: int = ruled(Integer(minimum=1))
    loader_workers: int = ruled(Integer(minimum=0))
    precision: str = ruled(OneOf(PRECISIONS))
    channels_last: bool = ruled(Boolean())
    compile: bool = ruled(Boolean())
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        check_fields(self)
        check_int("eval_batch_size", self.eval_batch_size)
        if self.batch_size % self.nproc:
            raise InvalidValue(
                "batch_size",
                self.batch_size,
                f"a multiple of nproc = {self.nproc} (each process takes an equal share"
                " of every batch)",
            )


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


@dataclass
class _Progress:
    """The fit's state between epochs besides the model, optimizer and generators: what a
    checkpoint holds (its fields are the checkpoint's keys)."""

    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int = 0
    best_val: float = -1.0
    best_score: float = -float("inf")
    history: list[dict[str, float]] = field(default_factory=list)
    seen: int = 0
    score_seconds: float = 0.0
    elapsed: float = 0.0

    def state(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def process_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s generator (augmentation, perturbations): ``seed``
    itself for rank 0, an independent stream for the others (numpy's SeedSequence)."""
    return seed if rank == 0 else derived_seed(seed, rank)


def _predict_shared(
    model: nn.Module, x: Any, *, batch_size: int, device: torch.device, ranks: Ranks
) -> torch.Tensor:
    """Logits of every row of ``x``: each process predicts its share, all gather them."""
    begin, end = shard_bounds(len(x), ranks)
    local = predict_logits(model, _rows(x, begin, end), batch_size=batch_size, device=device)
    return gather_rows(local, shard_sizes(len(x), ranks.world), ranks)


def _rows(x: Any, begin: int, end: int) -> Any:
    """Rows ``[begin, end)`` of ``x``, unread: a view of a tensor or of a memory map."""
    return ScaledImages(x.array[begin:end]) if isinstance(x, ScaledImages) else x[begin:end]


def fit(
    model: nn.Module,
    train_x: torch.Tensor | np.ndarray,
    train_targets: torch.Tensor,
    val_x: Any,
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
    ranks: Ranks = SINGLE,
) -> FitResult:
    """Train ``model`` in place and restore the weights of its best validation epoch.

    ``train_x`` is float [0, 1] or uint8 (a memory-mapped array: batches are streamed from
    it, :mod:`.batches`); ``val_x`` the same or anything indexable by row ranges that gives
    float images (:class:`~modelrobustness.data.prepared.ScaledImages`).
    ``loss_fn(logits, targets)`` returns the mean loss of a batch.
    ``perturb(model, x, labels, progress=epochs_done, generator=...)`` replaces
    each (augmented) batch by the inputs to train on and may add a loss term
    (:class:`PerturbedBatch`); train_loss is then the loss with that term and
    train_accuracy the accuracy on the inputs trained on (TRADES: the clean batch). After
    each epoch the validation accuracy is measured (eval mode), ``score_epoch(model)`` adds
    its stats, and ``on_epoch_end(epoch, stats)`` is called with train_loss,
    train_accuracy, val_loss, val_accuracy, lr and those. The kept epoch has the highest
    ``stats[select]``; ties keep the earlier epoch. ``train_seconds`` leaves out the time
    ``score_epoch`` takes (``score_seconds``).

    With ``resume``, a checkpoint is written after every epoch (:mod:`.resume`; by rank 0,
    holding every process's generator), and a matching one found at the start is continued
    from by every process: the epochs it holds are replayed to ``on_epoch_end`` and the run
    ends as an uninterrupted one would. A NaN or infinite loss stops the run at once with
    :class:`NonFiniteLoss`. ``ranks``: this process's place in a ``torchrun`` group; every
    process calls ``fit`` with the same arguments, except that only rank 0 should be given
    an ``on_epoch_end`` that logs.
    """
    if len(train_x) != len(train_targets) or len(val_x) != len(val_y):
        raise ValueError("images and targets must have the same length")
    if score_epoch is None and select not in EPOCH_STATS:
        raise KeyError(
            f"select={select!r} is not among the epoch's stats {list(EPOCH_STATS)}"
            " (score_epoch adds others)"
        )
    device = torch.device(device)
    plan = gpu_plan(
        precision=config.precision,
        channels_last=config.channels_last,
        compile=config.compile,
        device=device,
    )
    if plan.ignored and ranks.main:
        print(
            f"{desc}: {', '.join(plan.ignored)} apply on CUDA only; ignored on {device.type}",
            file=sys.stderr,
        )
    fast_layout(model.to(device), device)  # channels-last on CPU; back to NCHW at the end
    plan.prepare(model)
    trained: nn.Module = model
    if ranks.world > 1:
        trained = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    forward = plan.compile(trained)
    generator = torch.Generator().manual_seed(process_seed(seed, ranks.rank))
    optimizer = _make_optimizer(model, config)
    batches = EpochBatches(len(train_x), batch_size=config.batch_size, seed=seed, ranks=ranks)
    loader = batch_loader(
        RowReader(train_x, train_targets),
        batches,
        workers=config.loader_workers,
        device=device,
    )
    scheduler = _make_scheduler(optimizer, config, config.epochs * len(batches))
    scaler = plan.scaler(device)
    progress = _Progress()
    saved = load_checkpoint(resume) if resume is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generators"][ranks.rank])
        set_rng_states(saved["rng"][ranks.rank])
        progress = _Progress(**{f.name: saved[f.name] for f in dataclasses.fields(_Progress)})
        if on_epoch_end is not None:  # the loggers see every epoch once, in order
            for done in progress.history:
                on_epoch_end(int(done["epoch"]), {k: v for k, v in done.items() if k != "epoch"})
    start = time.perf_counter() - progress.elapsed
    epochs = range(len(progress.history) + 1, config.epochs + 1)
    bar = tqdm(epochs, desc=desc, unit="epoch", disable=None if ranks.main else True)
    for epoch in bar:
        model.train()
        batches.set_epoch(epoch)
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, rows
        for number, (x_rows, targets) in enumerate(loader):
            xb = augment_batch(
                to_unit_float(x_rows, device),
                crop_padding=config.crop_padding,
                flip=config.flip,
                generator=generator,
            )
            tb = targets.to(device, non_blocking=True)
            extra = None
            if perturb is not None:
                batch = perturb(
                    model,
                    xb,
                    hard_labels(tb),
                    progress=epoch - 1 + number / len(batches),
                    generator=generator,
                )
                xb, extra = batch.x, batch.extra_loss
            with plan.autocast(device):
                logits = forward(plan.inputs(xb))
                loss = loss_fn(logits, tb)
                if extra is not None:
                    loss = loss + extra(model, logits)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            batch_loss = float(loss.detach())
            if not math.isfinite(batch_loss):
                raise NonFiniteLoss(epoch=epoch, batch=number + 1, value=batch_loss)
            valid = batches.valid(number, len(tb)).to(device)
            right = (logits.argmax(1) == hard_labels(tb)) & valid
            rows = int(valid.sum())
            totals += torch.tensor([batch_loss * rows, int(right.sum()), rows], dtype=torch.float64)
        loss_sum, correct, rows = (float(v) for v in sum_across(totals, ranks))
        progress.seen += int(rows)
        val_logits = _predict_shared(
            model, val_x, batch_size=config.eval_batch_size, device=device, ranks=ranks
        )
        val_loss = float(F.cross_entropy(val_logits, val_y))
        val_accuracy = float((val_logits.argmax(1) == val_y).float().mean())
        stats = dict(
            zip(
                EPOCH_STATS,
                (
                    loss_sum / rows,
                    correct / rows,
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
            progress.score_seconds += time.perf_counter() - scoring
        if select not in stats:
            raise KeyError(f"select={select!r} is not among the epoch's stats {sorted(stats)}")
        progress.history.append({"epoch": epoch, **stats})
        if stats[select] > progress.best_score:
            progress.best_score, progress.best_val = stats[select], val_accuracy
            progress.best_epoch = epoch
            progress.best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{stats['train_loss']:.3f}", val_acc=f"{val_accuracy:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, stats)
        if resume is not None:  # every process takes part in the gathers; rank 0 writes
            generators = gather_objects(generator.get_state(), ranks)
            rngs = gather_objects(rng_states(), ranks)
        if resume is not None and ranks.main:
            progress.elapsed = time.perf_counter() - start
            save_checkpoint(
                resume,
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "generators": generators,
                    "rng": rngs,
                    **progress.state(),
                },
            )
    seconds = time.perf_counter() - start - progress.score_seconds
    if progress.best_state is None:
        raise ValueError(f"no epoch had a comparable {select!r} (NaN in every epoch?)")
    model.load_state_dict(progress.best_state)
    model.to(memory_format=torch.contiguous_format)  # saved weights keep the usual layout
    model.eval()
    return FitResult(
        best_epoch=progress.best_epoch,
        best_val_accuracy=progress.best_val,
        train_seconds=seconds,
        images_per_second=progress.seen / max(seconds, 1e-9),
        history=progress.history,
        selected_by=select,
        score_seconds=progress.score_seconds,
    )
