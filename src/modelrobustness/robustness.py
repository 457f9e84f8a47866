"""Attack evaluations behind the attack stages: run an attack over a test set and score it.

Definitions (RobustBench's): ``robust_accuracy`` is the fraction of the attacked samples
classified correctly both clean and under attack; ``attack_success_rate`` the fraction of
the clean-correct samples the attack fooled. Clean-misclassified samples are not attacked.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .attacks import ddn, pgd
from .attacks.common import LOSSES, eval_mode
from .attacks.pgd import NORMS
from .evaluation import (
    accuracy_under_l2_budget,
    attack_in_batches,
    perturbation_norms,
    predict_logits,
    robustness_curve,
)
from .params import check_choice, check_known_keys, check_positive_int


@dataclass(frozen=True)
class PGDSettings:
    """``attack.pgd`` in params: the attack at ``eps`` and the curve over ``eps_list``.

    The curve uses the step size ``step_size * eps / self.eps`` at each eps and the losses
    ``curve_losses`` (each on what the previous one missed).
    """

    eps: float = 0.1
    eps_list: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.1)
    norm: str = "linf"
    steps: int = 40
    step_size: float = 0.01
    restarts: int = 1
    random_start: bool = True
    early_stop: bool = True
    losses: tuple[str, ...] = ("ce", "margin")
    curve_losses: tuple[str, ...] = ("margin",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps_list", tuple(float(e) for e in self.eps_list))
        for name in ("losses", "curve_losses"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            for loss in getattr(self, name):
                check_choice(f"attack.pgd.{name}[]", loss, LOSSES)
            if not getattr(self, name):
                raise ValueError(f"parameter attack.pgd.{name} must list at least one loss")
        check_choice("attack.pgd.norm", self.norm, NORMS)
        check_positive_int("attack.pgd.steps", self.steps)
        check_positive_int("attack.pgd.restarts", self.restarts)
        for name, value in (("eps", self.eps), ("step_size", self.step_size)):
            if not value > 0:
                raise ValueError(f"parameter attack.pgd.{name} is {value!r}; expected > 0")
        if any(not e > 0 for e in self.eps_list):
            raise ValueError("parameter attack.pgd.eps_list must hold numbers > 0")

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> PGDSettings:
        check_known_keys("attack.pgd", section, cls.__dataclass_fields__)
        return cls(**section)


def gradient_masking_flag(by_loss: dict[str, float], *, margin: float = 0.05) -> bool | None:
    """True when the naive cross-entropy attack leaves at least ``margin`` more robust
    accuracy than the margin-loss attack: the CE gradient is hiding the model's weakness
    (saturated softmax, as in defensive distillation; Carlini & Wagner 2016). None when the
    two losses were not both run."""
    if "ce" not in by_loss or "margin" not in by_loss:
        return None
    return bool(by_loss["ce"] - by_loss["margin"] >= margin - 1e-12)


@dataclass
class AttackOutcome:
    """Per-sample results of one attack on ``x`` (CPU tensors) and its metrics."""

    x_adv: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    clean_predictions: torch.Tensor
    clean_correct: torch.Tensor
    success: torch.Tensor
    adv_predictions: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor
    metrics: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)

    def artifact(self) -> dict[str, torch.Tensor]:
        """Tensors only, so ``torch.load(..., weights_only=True)`` reads it back."""
        return {"x_adv": self.x_adv, "labels": self.labels, "indices": self.indices,
                "clean_predictions": self.clean_predictions,
                "clean_correct": self.clean_correct, "success": self.success,
                "adv_predictions": self.adv_predictions, "linf": self.linf, "l2": self.l2}


def _norm_stats(linf: torch.Tensor, l2: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Mean and max L-inf and L2 of the successful perturbations (0 when there are none)."""
    if not bool(mask.any()):
        return {"mean_linf": 0.0, "max_linf": 0.0, "mean_l2": 0.0, "max_l2": 0.0}
    return {"mean_linf": float(linf[mask].double().mean()), "max_linf": float(linf[mask].max()),
            "mean_l2": float(l2[mask].double().mean()), "max_l2": float(l2[mask].max())}


def _rate(mask: torch.Tensor, of: torch.Tensor | None = None) -> float:
    if of is None:
        return float(mask.double().mean()) if mask.numel() else 0.0
    total = int(of.sum())
    return float((mask & of).sum()) / total if total else 0.0


def evaluate_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 settings: PGDSettings, batch_size: int, seed: int,
                 device: torch.device | str = "cpu") -> AttackOutcome:
    """PGD at ``settings.eps`` with each loss on the clean-correct samples, and the curve.

    ``by_loss`` holds the robust accuracy under each loss alone; ``robust_accuracy`` is
    their minimum. ``robust_accuracy_all_losses`` counts a sample as robust only when it
    survives every loss (per-sample worst case, at most ``robust_accuracy``). The saved
    adversarial image of a sample comes from the first loss (in ``losses`` order) that
    fooled it.
    """
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    clean_pred = predict_logits(model, x, batch_size=batch_size, device=device).argmax(1)
    clean_correct = clean_pred == y
    target = clean_correct.nonzero().squeeze(1)
    x_adv, adv_pred = x.clone(), clean_pred.clone()
    fooled_any = torch.zeros_like(clean_correct)
    by_loss: dict[str, float] = {}
    success_by_loss: dict[str, float] = {}
    for loss in settings.losses:
        attack = functools.partial(pgd, model, eps=settings.eps, norm=settings.norm,
                                   steps=settings.steps, step_size=settings.step_size,
                                   random_start=settings.random_start,
                                   restarts=settings.restarts, loss=loss,
                                   early_stop=settings.early_stop, generator=generator)
        adv = attack_in_batches(attack, x[target], y[target], batch_size=batch_size,
                                device=device, desc=f"pgd {loss}")
        pred = predict_logits(model, adv, batch_size=batch_size, device=device).argmax(1)
        fooled = torch.zeros_like(clean_correct)
        fooled[target] = pred != y[target]
        new = fooled & ~fooled_any
        x_adv[new], adv_pred[new] = adv[new[target]], pred[new[target]]
        fooled_any |= fooled
        by_loss[loss] = _rate(clean_correct & ~fooled)
        success_by_loss[loss] = _rate(fooled, of=clean_correct)
    attack_seconds = time.perf_counter() - start

    def curve_attack(xb: torch.Tensor, yb: torch.Tensor, eps: float) -> torch.Tensor:
        step = settings.step_size * eps / settings.eps
        out = xb
        alive = torch.ones(len(xb), dtype=torch.bool, device=xb.device)
        for loss in settings.curve_losses:  # later losses attack only what earlier missed
            index = alive.nonzero().squeeze(1)
            if index.numel() == 0:
                break
            adv = pgd(model, xb[index], yb[index], eps=eps, norm=settings.norm,
                      steps=settings.steps, step_size=step, random_start=settings.random_start,
                      restarts=settings.restarts, loss=loss, early_stop=settings.early_stop,
                      generator=generator)
            out = out.clone() if out is xb else out
            out[index] = adv
            with torch.no_grad(), eval_mode(model):
                alive[index] = model(adv).argmax(1) == yb[index]
        return out

    curve = robustness_curve(model, x, y, eps_list=settings.eps_list, attack=curve_attack,
                             batch_size=batch_size, device=device,
                             known=(settings.eps, fooled_any))
    seconds = time.perf_counter() - start
    linf, l2 = perturbation_norms(x, x_adv)
    strongest = min(by_loss, key=lambda k: by_loss[k])
    metrics = {
        "samples": len(x),
        "eps": settings.eps,
        "norm": settings.norm,
        "steps": settings.steps,
        "losses": list(settings.losses),
        "clean_accuracy": _rate(clean_correct),
        "robust_accuracy": by_loss[strongest],
        "attack_success_rate": success_by_loss[strongest],
        "by_loss": by_loss,
        "attack_success_rate_by_loss": success_by_loss,
        "robust_accuracy_all_losses": _rate(clean_correct & ~fooled_any),
        "gradient_masking": gradient_masking_flag(by_loss),
        **_norm_stats(linf, l2, fooled_any),
        "curve": {f"{row['eps']:g}": row["robust_accuracy"] for row in curve},
        "attack_seconds": round(attack_seconds, 3),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(x) * len(settings.losses) / max(attack_seconds, 1e-9),
                                   1),
    }
    return AttackOutcome(x_adv=x_adv, labels=y.clone(), indices=torch.arange(len(x)),
                         clean_predictions=clean_pred, clean_correct=clean_correct,
                         success=fooled_any,
                         adv_predictions=adv_pred, linf=linf, l2=l2, metrics=metrics,
                         curve=curve)


def evaluate_ddn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int,
                 init_norm: float, gamma: float, levels: int | None, batch_size: int,
                 seed: int = 0, device: torch.device | str = "cpu",
                 budgets: Sequence[float] | None = None) -> AttackOutcome:
    """DDN on the clean-correct samples: minimal L2 norms, success, accuracy-vs-budget."""
    start = time.perf_counter()
    clean_pred = predict_logits(model, x, batch_size=batch_size, device=device).argmax(1)
    clean_correct = clean_pred == y
    target = clean_correct.nonzero().squeeze(1)
    attack = functools.partial(ddn, model, steps=steps, init_norm=init_norm, gamma=gamma,
                               levels=levels, generator=torch.Generator().manual_seed(seed))
    adv = attack_in_batches(attack, x[target], y[target], batch_size=batch_size,
                            device=device, desc="ddn")
    pred = predict_logits(model, adv, batch_size=batch_size, device=device).argmax(1)
    seconds = time.perf_counter() - start
    x_adv, adv_pred = x.clone(), clean_pred.clone()
    x_adv[target], adv_pred[target] = adv, pred
    success = torch.zeros_like(clean_correct)
    success[target] = pred != y[target]
    linf, l2 = perturbation_norms(x, x_adv)
    found = l2[success]
    if budgets is None:  # the exact step curve: it changes only at the norms found
        # (none found: flat up to the diameter of the [0, 1] box, the largest L2 there is)
        budgets = [0.0, *sorted(set(found.tolist()))] if found.numel() else [
            0.0, float(x[0].numel()) ** 0.5]
    curve = accuracy_under_l2_budget(clean_correct, success, l2, budgets)
    metrics = {
        "samples": len(x),
        "steps": steps,
        "clean_accuracy": _rate(clean_correct),
        "attack_success_rate": _rate(success, of=clean_correct),
        "robust_accuracy": _rate(clean_correct & ~success),
        "median_l2": float(statistics.median(found.tolist())) if found.numel() else None,
        **_norm_stats(linf, l2, success),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(target) / max(seconds, 1e-9), 1),
    }
    return AttackOutcome(x_adv=x_adv, labels=y.clone(), indices=torch.arange(len(x)),
                         clean_predictions=clean_pred, clean_correct=clean_correct,
                         success=success, adv_predictions=adv_pred,
                         linf=linf, l2=l2, metrics=metrics, curve=curve)
