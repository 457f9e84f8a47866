"""The DDN evaluation behind ``attack_ddn``: minimal L2 adversarial perturbations on the
clean-correct samples, their norms and the accuracy under every L2 budget."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.ddn import ddn
from ..utils.checks import Integer, Nullable, Number, check_fields, ruled
from ..utils.distributed import SINGLE, Ranks
from .harness import (
    AttackOutcome,
    SampleSeeds,
    accuracy_under_l2_budget,
    attack_clean_correct,
    norm_stats,
    perturbation_norms,
    rate,
)


@dataclass(frozen=True)
class DDNConfig:
    """DDN's settings (Rony et al. 2019, Algorithm 1): ``steps``, the initial norm budget
    ``init_norm``, its change per step ``gamma`` and the quantization ``levels`` (None:
    off)."""

    steps: int = ruled(Integer(minimum=1))
    init_norm: float = ruled(Number(low=0.0, closed_low=False))
    gamma: float = ruled(Number(low=0.0, high=1.0, closed_low=False, closed_high=False))
    levels: int | None = ruled(Nullable(Integer(minimum=2, maximum=65536)))

    def __post_init__(self) -> None:
        check_fields(self)

    def attack_options(self) -> dict:
        """Keyword options of :func:`~modelrobustness.attacks.ddn`."""
        return {
            "steps": self.steps,
            "init_norm": self.init_norm,
            "gamma": self.gamma,
            "levels": self.levels,
        }


def evaluate_ddn(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    config: DDNConfig,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    budgets: Sequence[float] | None = None,
    ranks: Ranks = SINGLE,
) -> AttackOutcome:
    """DDN on the clean-correct samples: minimal L2 norms, success, accuracy-vs-budget.
    Each sample draws from its own stream of ``seed``; ``ranks`` shares the batches out
    among processes (:mod:`.harness`)."""
    start = time.perf_counter()
    attack = functools.partial(ddn, model, **config.attack_options())
    run = attack_clean_correct(
        model,
        x,
        y,
        attack,
        batch_size=batch_size,
        device=device,
        desc="ddn",
        predict_batch_size=batch_size,
        seeds=SampleSeeds.first(seed, len(x)),
        ranks=ranks,
    )
    seconds = time.perf_counter() - start
    x_adv, adv_pred = x.clone(), run.clean_predictions.clone()
    x_adv[run.target], adv_pred[run.target] = run.x_adv, run.adv_predictions
    success = run.fooled
    linf, l2 = perturbation_norms(x, x_adv)
    found = l2[success]
    if budgets is None:  # the exact step curve: it changes only at the norms found
        # (none found: flat up to the diameter of the [0, 1] box, the largest L2 there is)
        budgets = (
            [0.0, *sorted(set(found.tolist()))]
            if found.numel()
            else [0.0, float(x[0].numel()) ** 0.5]
        )
    curve = accuracy_under_l2_budget(run.clean_correct, success, l2, budgets)
    metrics = {
        "samples": len(x),
        "steps": config.steps,
        "clean_accuracy": rate(run.clean_correct),
        "attack_success_rate": rate(success, of=run.clean_correct),
        "robust_accuracy": rate(run.clean_correct & ~success),
        "median_l2": float(statistics.median(found.tolist())) if found.numel() else None,
        **norm_stats(linf, l2, success),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(run.target) / max(seconds, 1e-9), 1),
    }
    return AttackOutcome(
        x_adv=x_adv,
        labels=y.clone(),
        indices=torch.arange(len(x)),
        clean_predictions=run.clean_predictions,
        clean_correct=run.clean_correct,
        success=success,
        adv_predictions=adv_pred,
        linf=linf,
        l2=l2,
        metrics=metrics,
        curve=curve,
    )
