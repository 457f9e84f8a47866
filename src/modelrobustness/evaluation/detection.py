"""The feature-squeezing evaluation behind ``squeeze_detect``.

Honest protocol: the threshold is calibrated on clean validation images only (Xu et al.'s
rule) and every rate is measured on the test split; the optional squeezer selection uses
validation images (clean and PGD-attacked) only; an adaptive attacker who knows the
detector (BPDA, He et al. 2017) is reported beside the plain attacks.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from ..attacks.adaptive import bpda_pgd
from ..attacks.pgd import pgd
from ..defenses.squeezing import (
    SQUEEZER_SPECS,
    SqueezeDetector,
    parse_squeezer,
    straight_through_score,
    threshold_at_fpr,
)
from ..utils.checks import (
    Boolean,
    Integer,
    InvalidValue,
    ListOf,
    Number,
    Satisfies,
    check_fields,
    ruled,
)
from ..utils.torch import predict_labels
from .harness import attack_clean_correct
from .pgd import PGDConfig


def _squeezer_spec(spec: Any) -> str:
    """``spec`` when :func:`parse_squeezer` reads it."""
    parse_squeezer(spec)
    return spec


# a squeezer spec, "<name>:<int>", checked as parse_squeezer reads it
SQUEEZER_SPEC = Satisfies(_squeezer_spec, SQUEEZER_SPECS)


@dataclass(frozen=True)
class SqueezeConfig:
    """The detector's squeezers, its fixed ``threshold``, the false-positive rate ``fpr``
    the calibrated threshold aims at, the squeezer selection and the adaptive attack."""

    squeezers: tuple[str, ...] = ruled(ListOf(SQUEEZER_SPEC, unique=True))
    threshold: float = ruled(Number(low=0.0, high=2.0))
    fpr: float = ruled(Number(low=0.0, high=1.0, closed_high=False))
    select: bool = ruled(Boolean())
    select_samples: int = ruled(Integer(minimum=1))
    adaptive_lambda: float = ruled(Number(low=0.0))
    adaptive_steps: int = ruled(Integer(minimum=1))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class SqueezeOutcome:
    metrics: dict[str, Any]
    roc: dict[str, list[dict]] = field(default_factory=dict)
    scores: dict[str, torch.Tensor] = field(default_factory=dict)


def detection_rates(
    clean_scores: torch.Tensor, adversarial_scores: torch.Tensor, *, threshold: float
) -> dict[str, float | None]:
    """Share of adversarial scores above ``threshold`` (detection rate) and of clean scores
    above it (false-positive rate); ROC-AUC of clean (0) against adversarial (1) scores.
    Without adversarial scores the detection rate and the AUC are None (not measured)."""
    clean, adv = clean_scores.double(), adversarial_scores.double()
    out = {
        "detection_rate": float((adv > threshold).double().mean()) if adv.numel() else None,
        "false_positive_rate": float((clean > threshold).double().mean()),
    }
    if adv.numel() and clean.numel():
        labels = np.r_[np.zeros(clean.numel()), np.ones(adv.numel())]
        out["roc_auc"] = float(roc_auc_score(labels, np.r_[clean.numpy(), adv.numpy()]))
    else:
        out["roc_auc"] = None
    return out


def roc_points(clean_scores: torch.Tensor, adversarial_scores: torch.Tensor) -> list[dict]:
    """The ROC curve (sklearn) as rows of fpr, tpr, threshold."""
    labels = np.r_[np.zeros(clean_scores.numel()), np.ones(adversarial_scores.numel())]
    scores = np.r_[clean_scores.double().numpy(), adversarial_scores.double().numpy()]
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    return [
        {"fpr": float(f), "tpr": float(t), "threshold": float(min(th, 2.0))}
        for f, t, th in zip(fpr, tpr, thresholds, strict=True)
    ]


def select_squeezers(
    clean: torch.Tensor, adversarial: torch.Tensor, names: Sequence[str], *, fpr: float
) -> tuple[list[str], dict[str, float]]:
    """The subset of squeezers detecting most adversarial examples at ``fpr`` (validation).

    ``clean`` and ``adversarial`` are per-squeezer score matrices (N x S). Ties go to fewer
    squeezers, then to the configured order. Returns the subset and every subset's rate.
    """
    best, best_key, table = None, None, {}
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), size):
            cols = list(subset)
            threshold = threshold_at_fpr(clean[:, cols].amax(1).numpy(), fpr)
            rate = float((adversarial[:, cols].amax(1) > threshold).double().mean())
            table["+".join(names[i] for i in cols)] = rate
            key = (rate, -size)
            if best_key is None or key > best_key:
                best, best_key = cols, key
    return [names[i] for i in best], table


def _full_strength_pgd(
    model: nn.Module, *, pgd_config: PGDConfig, steps: int, generator: torch.Generator
):
    """Margin-loss L-inf PGD at the headline budget run for all its ``steps`` (no early
    stop): a detector chosen or judged on barely-adversarial points would flatter itself."""
    return functools.partial(
        pgd,
        model,
        eps=pgd_config.eps,
        steps=steps,
        step_size=pgd_config.step_size,
        loss="margin",
        early_stop=False,
        generator=generator,
    )


def choose_squeezers(
    model: nn.Module,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    config: SqueezeConfig,
    pgd_config: PGDConfig,
    generator: torch.Generator,
    batch_size: int,
    device: torch.device | str,
) -> tuple[list[str], dict[str, float] | None]:
    """The squeezers to use and, when a selection ran, every subset's detection rate on
    full-strength PGD of the first ``select_samples`` clean-correct validation images."""
    chosen = list(config.squeezers)
    if not config.select or len(chosen) < 2:
        return chosen, None
    sel_x, sel_y = val_x[: config.select_samples], val_y[: config.select_samples]
    attack = _full_strength_pgd(
        model, pgd_config=pgd_config, steps=pgd_config.steps, generator=generator
    )
    run = attack_clean_correct(
        model, sel_x, sel_y, attack, batch_size=batch_size, device=device, desc="select"
    )
    fooled = run.fooled[run.target]  # over the attacked (clean-correct) images
    if not bool(fooled.any()):  # nothing to select on: keep every configured squeezer
        return chosen, {}
    full = SqueezeDetector(model, chosen, batch_size=batch_size)
    return select_squeezers(
        full.scores_per_squeezer(val_x),
        full.scores_per_squeezer(run.x_adv[fooled]),
        chosen,
        fpr=config.fpr,
    )


def score_attacks(
    detector: SqueezeDetector,
    clean_scores: torch.Tensor,
    adversarial: Mapping[str, torch.Tensor],
    *,
    threshold: float,
    fixed_threshold: float,
) -> tuple[dict[str, Any], dict[str, list[dict]], dict[str, torch.Tensor]]:
    """Each attack's successful adversarial images scored by the detector against the clean
    test scores, at the calibrated and at the fixed threshold: (metrics, ROC rows, scores)."""
    metrics: dict[str, Any] = {"roc_auc": {}, "detection_rate": {}, "adversarial_examples": {}}
    fixed: dict[str, Any] = {
        "threshold": fixed_threshold,
        "clean_false_positive_rate": float((clean_scores > fixed_threshold).double().mean()),
        "detection_rate": {},
    }
    roc, scores = {}, {}
    for name, x_adv in adversarial.items():
        adv_scores = detector.score(x_adv)
        scores[name] = adv_scores
        calibrated = detection_rates(clean_scores, adv_scores, threshold=threshold)
        metrics["roc_auc"][name] = calibrated["roc_auc"]
        metrics["detection_rate"][name] = calibrated["detection_rate"]
        metrics["adversarial_examples"][name] = len(x_adv)
        fixed["detection_rate"][name] = detection_rates(
            clean_scores, adv_scores, threshold=fixed_threshold
        )["detection_rate"]
        if len(x_adv):
            roc[name] = roc_points(clean_scores, adv_scores)
    metrics["fixed_threshold"] = fixed
    return metrics, roc, scores


def squeezed_accuracy(
    model: nn.Module,
    squeezers: Sequence[str],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device | str,
) -> dict[str, float]:
    """Accuracy on ``x`` unsqueezed (``none``) and through each squeezer alone."""
    accuracy = {"none": float((predict_labels(model, x, device=device) == y).double().mean())}
    for spec in squeezers:
        pred = predict_labels(model, parse_squeezer(spec)(x), device=device)
        accuracy[spec] = float((pred == y).double().mean())
    return accuracy


def evaluate_squeezing(
    model: nn.Module,
    *,
    config: SqueezeConfig,
    pgd_config: PGDConfig,
    val: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    adversarial: Mapping[str, torch.Tensor],
    attack_set: tuple[torch.Tensor, torch.Tensor],
    seed: int,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> SqueezeOutcome:
    """Choose the squeezers, calibrate the threshold on clean validation images, and score
    clean test images, each attack's successful adversarial images (``adversarial``: attack
    name -> images of the test split) and an adaptive attack on ``attack_set``."""
    if pgd_config.norm != "linf":
        raise InvalidValue(
            "norm",
            pgd_config.norm,
            "'linf': the squeezing evaluation attacks "
            "with L-inf PGD (its adaptive attack is L-inf only)",
        )
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    val_x, val_y = val
    test_x, test_y = test
    metrics: dict[str, Any] = {"squeezers": list(config.squeezers), "fpr": config.fpr}
    chosen, table = choose_squeezers(
        model,
        val_x,
        val_y,
        config=config,
        pgd_config=pgd_config,
        generator=generator,
        batch_size=batch_size,
        device=device,
    )
    if table is not None:
        metrics["selection_detection_rate"] = table
    metrics["selected_squeezers"] = chosen
    detector = SqueezeDetector(model, chosen, batch_size=batch_size)
    threshold = detector.fit_threshold(val_x, fpr=config.fpr)
    clean_scores = detector.score(test_x)
    metrics["threshold"] = threshold
    metrics["clean_false_positive_rate"] = float((clean_scores > threshold).double().mean())
    rates, roc, scores = score_attacks(
        detector, clean_scores, adversarial, threshold=threshold, fixed_threshold=config.threshold
    )
    metrics.update(rates)
    metrics["squeezed_accuracy"] = squeezed_accuracy(
        model, config.squeezers, test_x, test_y, device=device
    )
    metrics["adaptive"] = adaptive_attack(
        model,
        detector,
        attack_set,
        config=config,
        pgd_config=pgd_config,
        generator=generator,
        batch_size=batch_size,
        device=device,
    )
    metrics["seconds"] = round(time.perf_counter() - start, 3)
    return SqueezeOutcome(metrics=metrics, roc=roc, scores={"clean": clean_scores, **scores})


def adaptive_attack(
    model: nn.Module,
    detector: SqueezeDetector,
    attack_set: tuple[torch.Tensor, torch.Tensor],
    *,
    config: SqueezeConfig,
    pgd_config: PGDConfig,
    generator: torch.Generator,
    batch_size: int,
    device: torch.device | str,
) -> dict[str, Any]:
    """BPDA PGD against classifier + detector on the clean-correct images of ``attack_set``,
    beside plain PGD (margin loss) on the same images at the same budget: stopped at each
    image's first misclassified iterate (``plain_first_iterate``, what early stopping
    returns) and run for all its steps (``plain``)."""
    x, y = attack_set
    correct = predict_labels(model, x, device=device) == y
    x, y = x[correct], y[correct]
    steps, eps = config.adaptive_steps, pgd_config.eps
    squeezers = [parse_squeezer(s) for s in detector.squeezer_names]
    out: dict[str, Any] = {
        "eps": eps,
        "steps": steps,
        "lambda": config.adaptive_lambda,
        "samples": len(x),
    }
    full = _full_strength_pgd(model, pgd_config=pgd_config, steps=steps, generator=generator)
    runs = {
        "plain_first_iterate": functools.partial(full, early_stop=True),
        "plain": full,
        "adaptive": functools.partial(
            bpda_pgd,
            model,
            score=functools.partial(straight_through_score, model, squeezers),
            eps=eps,
            steps=steps,
            step_size=pgd_config.step_size,
            threshold=detector.threshold,
            lam=config.adaptive_lambda,
            generator=generator,
        ),
    }
    for name, attack in runs.items():
        # x holds clean-correct images only: their clean predictions are their labels
        run = attack_clean_correct(
            model,
            x,
            y,
            attack,
            batch_size=batch_size,
            device=device,
            desc=name,
            clean_predictions=y.clone(),
        )
        fooled = run.fooled
        flagged = detector.predict(run.x_adv)
        total, n_fooled = len(x), int(fooled.sum())
        out[name] = {  # None: nothing to measure on (no samples, or none fooled)
            "misclassified_rate": n_fooled / total if total else None,
            "detection_rate": float((flagged & fooled).sum()) / n_fooled if n_fooled else None,
            "undetected_success_rate": (
                float((fooled & ~flagged).sum()) / total if total else None
            ),
        }
    return out
