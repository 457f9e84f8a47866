"""The report's figures (matplotlib PNGs): robustness curves, detector ROC, confusion
matrices. Each takes plain data and a path; the bytes depend only on the data."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from .reporting import plt, save_figure

MODEL_STYLES = {"baseline": {"color": "tab:blue", "marker": "o"},
                "student": {"color": "tab:orange", "marker": "s"}}


def robustness_curves_png(path: str | os.PathLike, *,
                          pgd_curves: Mapping[str, pd.DataFrame],
                          l2_curves: Mapping[str, pd.DataFrame],
                          pgd_norm: str, pgd_title: str, ddn_title: str) -> None:
    """Two panels: PGD robust accuracy against eps (columns ``eps``, ``robust_accuracy``)
    and accuracy under an L2 budget from DDN's minimal perturbations (``l2``,
    ``accuracy``), one line per model."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for model, curve in pgd_curves.items():
        left.plot(curve["eps"], curve["robust_accuracy"], label=model,
                  **MODEL_STYLES.get(model, {}))
    left.set_xlabel(f"eps ({'L-inf' if pgd_norm == 'linf' else 'L2'}, [0, 1] pixel units)")
    left.set_ylabel("robust accuracy")
    left.set_title(pgd_title, fontsize=10)
    # A saturated model's curve has a long flat tail (DDN's zero-gradient random walks):
    # show up to 3x the largest budget that halves a model's accuracy, and say in the
    # legend what is still standing there.
    half = []
    for curve in l2_curves.values():
        below = curve.loc[curve["accuracy"] <= 0.5 * curve["accuracy"].iloc[0], "l2"]
        half.append(float(below.iloc[0]) if len(below) else float(curve["l2"].max()))
    x_max = 3 * max(half, default=0.0) or 1.0
    for model, curve in l2_curves.items():
        standing = curve.loc[curve["l2"] <= x_max, "accuracy"].iloc[-1]
        label = model if standing == 0 else f"{model} ({standing:.2f} left at {x_max:.2f})"
        right.step(curve["l2"], curve["accuracy"], where="post", label=label,
                   color=MODEL_STYLES.get(model, {}).get("color"))
    right.set_xlim(0, x_max)
    right.set_xlabel("L2 budget ([0, 1] pixel units)")
    right.set_ylabel("accuracy")
    right.set_title(ddn_title, fontsize=10)
    for ax in (left, right):
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def roc_png(path: str | os.PathLike, *, roc: Mapping[str, pd.DataFrame],
            auc: Mapping[str, float],
            operating_points: Mapping[str, Mapping[str, tuple[float, float | None]]],
            title: str) -> None:
    """ROC curves of the detector per attack (columns ``fpr``, ``tpr``), with each
    threshold's operating point ``{threshold_name: {attack: (fpr, tpr)}}`` marked."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    colors = {"pgd": "tab:red", "ddn": "tab:purple"}
    for attack, curve in roc.items():
        ax.plot(curve["fpr"], curve["tpr"], color=colors.get(attack),
                label=f"{attack.upper()} (AUC {auc[attack]:.3f})" if auc.get(attack) is not None
                else attack.upper())
    markers = iter(["o", "^", "s", "D"])
    for name, points in operating_points.items():
        marker = next(markers)
        for attack, (fpr, tpr) in points.items():
            if tpr is None:  # no successful adversarial examples of that attack
                continue
            ax.plot([fpr], [tpr], marker=marker, linestyle="none", color=colors.get(attack),
                    markeredgecolor="black", label=f"{name}, {attack.upper()}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false-positive rate (clean test images)")
    ax.set_ylabel("detection rate (successful adversarial examples)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def confusion_png(path: str | os.PathLike, *,
                  pairs: Mapping[str, tuple[Sequence[str], Sequence[str]]],
                  class_names: Sequence[str]) -> None:
    """One confusion matrix per model (``{model: (actual, predicted)}`` class names),
    rows = actual, columns = predicted, counts written in the cells."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.8), squeeze=False)
    for ax, (model, (actual, predicted)) in zip(axes[0], pairs.items(), strict=True):
        matrix = confusion_matrix(actual, predicted, labels=list(class_names))
        ax.imshow(matrix, cmap="Blues")
        threshold = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=6,
                        color="white" if count > threshold else "black")
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=60, fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(f"{model} (test split)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
