"""The per-sample worst case over several attacks (Croce & Hein 2020, Sec. 5): a robust
flag per sample; each attack runs only on the samples still robust; robust accuracy is the
mean of the flags. PGD's losses and the AutoAttack ensemble both go through it.

Several entries may share a name (APGD-T's target classes, run one after the other): the
statistics are then reported per name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..utils.distributed import SINGLE, Ranks
from ..utils.torch import predict_labels
from .harness import (
    AttackOutcome,
    BatchAttack,
    SampleSeeds,
    attack_in_batches,
    norm_stats,
    perturbation_norms,
    rate,
)

NOT_BROKEN = -1  # ``broken_by`` of a sample no attack fooled (or that was never correct)


@dataclass(frozen=True)
class EnsembleMember:
    """One attack of an ensemble: ``attack(x_batch, y_batch)`` returns adversarial images
    (with seeds, ``attack(x_batch, y_batch, generator=...)``: :mod:`.harness`).

    ``batch_factor``: the member attacks that many times the ensemble's batch at once (a
    gradient-free attack keeps no graph of its forward passes, so a larger batch fits the
    memory a gradient attack's batch needs, and runs faster per image)."""

    name: str
    attack: BatchAttack
    gradient_free: bool = False
    batch_factor: int = 1


@dataclass
class EnsembleResult:
    """Per-sample results of an ensemble on ``x`` (CPU tensors)."""

    names: list[str]  # the members' distinct names, in order
    clean_predictions: torch.Tensor  # every sample
    clean_correct: torch.Tensor
    robust: torch.Tensor  # correct clean and under every member
    broken_by: torch.Tensor  # index into ``names`` of the first member that fooled it
    x_adv: torch.Tensor  # the fooling image of a broken sample, the clean one otherwise
    adv_predictions: torch.Tensor
    seconds: dict[str, float]  # per name

    def robust_accuracy_after(self) -> dict[str, float]:
        """Robust accuracy after each name's members have run (cumulative, in order)."""
        n = max(len(self.robust), 1)
        alive = int(self.clean_correct.sum())
        out = {}
        for i, name in enumerate(self.names):
            alive -= int((self.broken_by == i).sum())
            out[name] = alive / n
        return out

    def fooled_by(self) -> dict[str, int]:
        """How many samples each name was the first to fool."""
        return {name: int((self.broken_by == i).sum()) for i, name in enumerate(self.names)}

    def fooled(self, name: str) -> torch.Tensor:
        """The samples ``name`` was the first to fool."""
        return self.broken_by == self.names.index(name)


def run_ensemble(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    members: Sequence[EnsembleMember],
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    clean_predictions: torch.Tensor | None = None,
    seeds: SampleSeeds | None = None,
    ranks: Ranks = SINGLE,
) -> EnsembleResult:
    """Run ``members`` in order, each on the samples every earlier one left robust.

    A sample is fooled when the model misclassifies the image the attack returned (checked
    here, whatever the attack reports). ``clean_predictions`` reuses predictions already
    made on ``x``. With ``seeds`` (of ``x``'s samples) member ``i`` draws from the stream
    ``<i>:<name>``; ``ranks``: :func:`~.harness.attack_in_batches`.
    """
    if clean_predictions is None:
        clean_predictions = predict_labels(model, x, batch_size=batch_size, device=device)
    clean_correct = clean_predictions == y
    robust = clean_correct.clone()
    names = list(dict.fromkeys(m.name for m in members))
    broken_by = torch.full((len(x),), NOT_BROKEN, dtype=torch.long)
    x_adv, adv_predictions = x.clone(), clean_predictions.clone()
    seconds = dict.fromkeys(names, 0.0)
    for number, member in enumerate(members):
        start = time.perf_counter()
        todo = robust.nonzero().squeeze(1)
        if todo.numel():
            adv = attack_in_batches(
                member.attack,
                x[todo],
                y[todo],
                batch_size=batch_size * member.batch_factor,
                device=device,
                desc=member.name,
                seeds=seeds[todo] if seeds is not None else None,
                stream=f"{number}:{member.name}",
                ranks=ranks,
            )
            pred = predict_labels(model, adv, batch_size=batch_size, device=device)
            hit = pred != y[todo]
            broke = todo[hit]
            robust[broke] = False
            broken_by[broke] = names.index(member.name)
            x_adv[broke], adv_predictions[broke] = adv[hit], pred[hit]
        seconds[member.name] += time.perf_counter() - start
    return EnsembleResult(
        names=names,
        clean_predictions=clean_predictions,
        clean_correct=clean_correct,
        robust=robust,
        broken_by=broken_by,
        x_adv=x_adv,
        adv_predictions=adv_predictions,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def ensemble_outcome(
    result: EnsembleResult,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    metrics: dict[str, Any],
    curve: list[dict[str, Any]],
) -> AttackOutcome:
    """An ensemble stage's outcome: ``metrics`` (settings, timing) with what every ensemble
    reports added: ``attacks`` (the order: the stage records' JSON sorts keys, so
    ``robust_accuracy_by_attack`` and ``fooled_by`` are read in this order), clean and robust
    accuracy, success rate, after-each and first-to-fool counts, the perturbations' norms."""
    fooled = result.clean_correct & ~result.robust
    linf, l2 = perturbation_norms(x, result.x_adv)
    metrics = {
        **metrics,
        "attacks": list(result.names),
        "clean_accuracy": rate(result.clean_correct),
        "robust_accuracy": rate(result.robust),
        "attack_success_rate": rate(fooled, of=result.clean_correct),
        "robust_accuracy_by_attack": result.robust_accuracy_after(),
        "fooled_by": result.fooled_by(),
        **norm_stats(linf, l2, fooled),
    }
    return AttackOutcome(
        x_adv=result.x_adv,
        labels=y.clone(),
        indices=torch.arange(len(x)),
        clean_predictions=result.clean_predictions,
        clean_correct=result.clean_correct,
        success=fooled,
        adv_predictions=result.adv_predictions,
        linf=linf,
        l2=l2,
        metrics=metrics,
        curve=curve,
        broken_by=result.broken_by,
    )
