"""Scoring classifiers: batched prediction and classification metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from tqdm import tqdm

from .attacks.common import eval_mode


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits of ``model`` (put in eval mode, restored afterwards) on CPU, in input order."""
    with eval_mode(model):
        chunks = [model(x[i:i + batch_size].to(device)).float().cpu()
                  for i in range(0, len(x), batch_size)]
        if not chunks:  # an empty batch still has a number of classes
            return model(x.to(device)).float().cpu()
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


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample L-inf and L2 norms of ``x_adv - x`` (in [0, 1] pixel units)."""
    delta = (x_adv - x).flatten(1).double()
    return delta.abs().amax(dim=1).float(), delta.norm(p=2, dim=1).float()


def attack_in_batches(attack: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      x: torch.Tensor, y: torch.Tensor, *, batch_size: int,
                      device: torch.device | str = "cpu", desc: str = "attack") -> torch.Tensor:
    """Apply ``attack(x_batch, y_batch)`` batch by batch on ``device``; results on CPU."""
    out = []
    for i in tqdm(range(0, len(x), batch_size), desc=desc, unit="batch", disable=None,
                  leave=False):
        out.append(attack(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).cpu())
    return torch.cat(out) if out else x.clone()


def robustness_curve(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps_list: Sequence[float],
    attack: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
    batch_size: int = 100,
    device: torch.device | str = "cpu",
    known: tuple[float, torch.Tensor] | None = None,
) -> list[dict[str, float]]:
    """Robust accuracy at each eps, attacking at each eps only the survivors of the last.

    An adversarial example inside a smaller ball is inside every larger one, so a sample
    fooled at eps stays fooled at every larger eps; the curve is monotone by construction.
    ``attack(x, y, eps)`` returns adversarial images. ``known = (eps0, fooled)`` marks
    samples already fooled at ``eps0`` (by another attack) as fooled at every eps >= eps0.
    """
    clean = predict_logits(model, x, batch_size=batch_size, device=device).argmax(1)
    alive = clean == y
    curve = []
    for eps in sorted(float(e) for e in eps_list):
        if known is not None and eps >= known[0]:
            alive &= ~known[1]
        index = alive.nonzero().squeeze(1)
        if index.numel():
            x_adv = attack_in_batches(lambda xb, yb, eps=eps: attack(xb, yb, eps), x[index],
                                      y[index], batch_size=batch_size, device=device,
                                      desc=f"eps {eps:g}")
            pred = predict_logits(model, x_adv, batch_size=batch_size, device=device).argmax(1)
            alive[index[pred != y[index]]] = False
        curve.append({"eps": eps, "robust_accuracy": float(alive.double().mean())})
    return curve


def accuracy_under_l2_budget(clean_correct: torch.Tensor, fooled: torch.Tensor,
                             l2: torch.Tensor, budgets: Sequence[float]) -> list[dict]:
    """Accuracy when the attacker may spend at most each L2 budget, from minimal norms.

    A sample counts as correct at budget r when it is correct clean and its minimal
    adversarial perturbation (DDN) is larger than r or was not found.
    """
    rows = []
    for r in budgets:
        broken = fooled & (l2 <= r)
        rows.append({"l2": float(r),
                     "accuracy": float((clean_correct & ~broken).double().mean())})
    return rows


def detection_rates(clean_scores: torch.Tensor, adversarial_scores: torch.Tensor, *,
                    threshold: float) -> dict[str, float | None]:
    """Share of adversarial scores above ``threshold`` (detection rate) and of clean scores
    above it (false-positive rate); ROC-AUC of clean (0) against adversarial (1) scores.
    Without adversarial scores the detection rate and the AUC are None (not measured)."""
    from sklearn.metrics import roc_auc_score

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
    from sklearn.metrics import roc_curve

    labels = np.r_[np.zeros(clean_scores.numel()), np.ones(adversarial_scores.numel())]
    scores = np.r_[clean_scores.double().numpy(), adversarial_scores.double().numpy()]
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    return [{"fpr": float(f), "tpr": float(t), "threshold": float(min(th, 2.0))}
            for f, t, th in zip(fpr, tpr, thresholds, strict=True)]
