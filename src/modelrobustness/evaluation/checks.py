"""Sanity checks of an evaluation: signs that a defense masks gradients instead of holding
(Carlini et al. 2019, "On Evaluating Adversarial Robustness", Sec. 5 and its checklist;
AutoAttack's ``checks.py``). Each check is a flag with its evidence; a flag means the
gradient attacks' numbers overstate the model's robustness, not that the model is robust.

1. ``gradient_free_breaks_more``: the gradient-free attack (Square) fools samples every
   gradient attack missed (gradient attacks should dominate a black-box search).
2. ``ce_leaves_more``: the naive cross-entropy attacks leave clearly more robust accuracy
   than the worst case over every attack (a saturated softmax hides the gradient).
3. ``large_eps_survives``: robust accuracy does not fall to about 0 at a very large budget
   (an attack that cannot win when the budget allows anything is not working).
4. ``more_steps_weaker``: PGD with more, smaller steps leaves more robust accuracy than
   with fewer, larger ones (the loss surface is not being climbed).
5. ``zero_gradients``: the input gradient of the cross-entropy is exactly zero on a share of
   the correctly classified samples.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..attacks.pgd import pgd
from ..utils.checks import InvalidValue
from ..utils.torch import eval_mode, predict_labels

CHECKS: tuple[str, ...] = (
    "gradient_free_breaks_more",
    "ce_leaves_more",
    "large_eps_survives",
    "more_steps_weaker",
    "zero_gradients",
)
# 1: share of the clean-correct samples only the gradient-free attack fooled
GRADIENT_FREE_SHARE = 0.01
# 2: how much more robust accuracy the best cross-entropy attack may leave than the worst case
MASKING_MARGIN = 0.05
# 3: the very large budget (L-inf: half the pixel range; L2: the norm of that perturbation
# on every pixel) and the robust accuracy above which it counts as not ~0
LARGE_LINF_EPS = 0.5
LARGE_EPS_ROBUST = 0.10
# 4: PGD step counts compared (step size 2.5 * eps / steps, Madry et al.) and the tolerance
STEP_COUNTS: tuple[int, int] = (10, 100)
MORE_STEPS_MARGIN = 0.01
# 5: share of the clean-correct samples with an all-zero cross-entropy input gradient
ZERO_GRADIENT_SHARE = 0.05


def large_eps(norm: str, x: torch.Tensor) -> float:
    """The very large budget of check 3 for images shaped like ``x`` (N x ...)."""
    return LARGE_LINF_EPS if norm == "linf" else LARGE_LINF_EPS * math.sqrt(x[0].numel())


def zero_gradient_flags(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Per sample: is the input gradient of the cross-entropy exactly zero? (CPU bools)"""
    flags = []
    with eval_mode(model), torch.enable_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(device).requires_grad_(True)
            loss = nn.functional.cross_entropy(
                model(xb), y[i : i + batch_size].to(device), reduction="sum"
            )
            grad = torch.autograd.grad(loss, xb)[0]
            flags.append((grad.flatten(1).abs().amax(dim=1) == 0).cpu())
    return torch.cat(flags) if flags else torch.zeros(0, dtype=torch.bool)


def _margin_pgd_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    steps: int,
    batch_size: int,
    device: torch.device | str,
) -> float:
    """Robust accuracy (over ``x``) under margin-loss PGD from the clean point with step
    size 2.5 * eps / steps; deterministic."""
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        adv = pgd(
            model,
            xb,
            yb,
            eps=eps,
            norm=norm,
            steps=steps,
            step_size=2.5 * eps / steps,
            random_start=False,
            loss="margin",
            early_stop=True,
        )
        correct += int(
            (predict_labels(model, adv, batch_size=len(adv), device=device) == yb.cpu()).sum()
        )
    return correct / max(len(x), 1)


def masking_evidence(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    batch_size: int,
    device: torch.device | str = "cpu",
    clean_correct: torch.Tensor,
) -> dict[str, Any]:
    """What checks 3-5 need, measured on ``model``: the zero-gradient share (of the
    ``clean_correct`` samples), robust accuracy at the very large budget and at
    :data:`STEP_COUNTS` PGD steps at ``eps`` (over every sample; clean-wrong ones count as
    not robust, so only the correct ones are attacked)."""
    target = clean_correct.nonzero().squeeze(1)
    xs, ys, share = x[target], y[target], len(target) / max(len(x), 1)
    zero = zero_gradient_flags(model, xs, ys, batch_size=batch_size, device=device)
    big = large_eps(norm, x)
    few, many = STEP_COUNTS
    run = {"norm": norm, "batch_size": batch_size, "device": device}
    return {
        "zero_gradient_samples": int(zero.sum()),
        "zero_gradient_share": float(zero.double().mean()) if len(zero) else 0.0,
        "large_eps": {
            "eps": big,
            "robust_accuracy": share
            * _margin_pgd_accuracy(model, xs, ys, eps=big, steps=few, **run),
        },
        "steps": {
            str(k): share * _margin_pgd_accuracy(model, xs, ys, eps=eps, steps=k, **run)
            for k in (few, many)
        },
    }


def masking_checks(
    *,
    evidence: dict[str, Any],
    ce_robust_accuracy: float,
    worst_case: float,
    gradient_free_only: int,
    clean_correct: int,
) -> dict[str, dict[str, Any]]:
    """The five checks, each ``{"flag": bool, ...evidence}``.

    ``ce_robust_accuracy`` is the lowest robust accuracy a cross-entropy attack reached on
    its own, ``worst_case`` the worst case over every attack, ``gradient_free_only`` the
    number of samples only the gradient-free attack fooled, of ``clean_correct`` attacked.
    """
    free_share = gradient_free_only / clean_correct if clean_correct else 0.0
    gap = ce_robust_accuracy - worst_case
    few, many = (evidence["steps"][str(k)] for k in STEP_COUNTS)
    large = evidence["large_eps"]
    return {
        "gradient_free_breaks_more": {
            "flag": free_share >= GRADIENT_FREE_SHARE,
            "samples": gradient_free_only,
            "share": free_share,
        },
        "ce_leaves_more": {
            "flag": gap >= MASKING_MARGIN - 1e-12,
            "ce_robust_accuracy": ce_robust_accuracy,
            "worst_case": worst_case,
            "gap": gap,
        },
        "large_eps_survives": {"flag": large["robust_accuracy"] > LARGE_EPS_ROBUST, **large},
        "more_steps_weaker": {
            "flag": many > few + MORE_STEPS_MARGIN,
            **{f"robust_accuracy_{k}_steps": evidence["steps"][str(k)] for k in STEP_COUNTS},
        },
        "zero_gradients": {
            "flag": evidence["zero_gradient_share"] >= ZERO_GRADIENT_SHARE,
            "samples": evidence["zero_gradient_samples"],
            "share": evidence["zero_gradient_share"],
        },
    }


def combine(
    *,
    pgd: dict[str, torch.Tensor],
    pgd_record: dict[str, Any],
    autoattack: dict[str, torch.Tensor],
    autoattack_record: dict[str, Any],
) -> dict[str, Any]:
    """The per-sample worst case over PGD's losses and the AutoAttack ensemble on the same
    images (their adversarial sets and records), and the five checks.

    Returns ``{"samples", "worst_case", "checks", "gradient_masking"}`` (any flag fired).
    Raises :class:`InvalidValue` when the two attacked different images.
    """
    if not torch.equal(pgd["clean_correct"], autoattack["clean_correct"]):
        raise InvalidValue("autoattack", "a set of other images", "the images PGD attacked")
    clean_correct = pgd["clean_correct"]
    robust = clean_correct & ~pgd["success"] & ~autoattack["success"]
    # an attack's own number is known when it ran first (the others ran on its survivors)
    ce = [autoattack_record["robust_accuracy_by_attack"]["apgd_ce"]]
    if pgd_record["losses"][0] == "ce":
        ce.append(pgd_record["robust_accuracy_by_attack"]["pgd_ce"])
    square = autoattack_record["attacks"].index("square")
    only_gradient_free = (autoattack["broken_by"] == square) & ~pgd["success"]
    worst = float(robust.double().mean()) if len(robust) else 0.0
    checks = masking_checks(
        evidence=autoattack_record["masking_evidence"],
        ce_robust_accuracy=min(ce),
        worst_case=worst,
        gradient_free_only=int(only_gradient_free.sum()),
        clean_correct=int(clean_correct.sum()),
    )
    return {
        "samples": len(robust),
        "worst_case": worst,
        "checks": checks,
        "gradient_masking": any_flag(checks),
    }


def any_flag(checks: dict[str, dict[str, Any]]) -> bool:
    """Did any check fire?"""
    return any(bool(c["flag"]) for c in checks.values())
