"""Every figure of the project (matplotlib PNGs; the only module that imports matplotlib):
example grids of adversarial images, detector score histograms, robustness curves, detector
ROC curves, confusion matrices. Each takes plain data and a path; the bytes depend only on
the data (no timestamp or software tag), and every file is written atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

# Figures are drawn with matplotlib's object-oriented API: a Figure renders itself to PNG
# through the Agg canvas, with no pyplot, no backend selection and no figure manager to
# close. Importing pyplot would cost every drawing stage half a second of start-up.
from matplotlib.figure import Figure

from ..utils.io import atomic_write_bytes
from ..utils.stats import confusion_matrix

if TYPE_CHECKING:  # the attack stages draw example grids without pandas or scikit-learn
    import pandas as pd


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 80) -> None:
    """Write ``fig`` as a PNG atomically and close it. No software tag or timestamp in the
    file, so equal inputs give equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def _as_image(t: torch.Tensor):
    array = t.detach().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def example_grid(
    path: str | os.PathLike,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    labels: torch.Tensor,
    clean_pred: torch.Tensor,
    adv_pred: torch.Tensor,
    class_names: Sequence[str],
    *,
    title: str,
    rows: int = 6,
) -> None:
    """A PNG with one row per example: clean | perturbation (amplified) | adversarial.

    The perturbation is shown as 0.5 + delta / (2 max|delta|), so grey means unchanged.
    Titles carry the true label and each prediction. Written atomically; no timestamp in
    the file, so equal inputs give equal bytes.
    """
    rows = max(1, min(rows, len(x)))
    gray = x.shape[1] == 1
    cmap = "gray" if gray else None
    height = 2.2 * rows + 0.4  # 0.4 in for the suptitle
    # a fixed layout: tight_layout measures all 3 x rows titles and costs a second
    fig = Figure(figsize=(6.6, height))
    axes = fig.subplots(
        rows,
        3,
        squeeze=False,
        gridspec_kw={
            "left": 0.02,
            "right": 0.98,
            "bottom": 0.01,
            "top": 1 - 0.75 / height,
            "wspace": 0.1,
            "hspace": 0.45,
        },
    )
    for r in range(rows):
        delta = x_adv[r] - x[r]
        scale = float(delta.abs().max())
        shown = 0.5 + delta / (2 * scale) if scale > 0 else torch.full_like(delta, 0.5)
        panels = [
            (
                x[r],
                f"clean: {class_names[int(clean_pred[r])]}\n(true {class_names[int(labels[r])]})",
            ),
            (
                shown,
                f"perturbation\nLinf {float(delta.abs().max()):.3f}, L2 {float(delta.norm()):.3f}",
            ),
            (x_adv[r], f"adversarial: {class_names[int(adv_pred[r])]}"),
        ]
        for c, (image, text) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(_as_image(image), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(text, fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=10, y=1 - 0.1 / height, va="top")
    save_figure(fig, path)


def pick_examples(success: torch.Tensor, rows: int = 6) -> torch.Tensor:
    """Indices of the first successful examples (the first samples when none succeeded)."""
    chosen = success.nonzero().squeeze(1)[:rows]
    return chosen if chosen.numel() else torch.arange(min(rows, len(success)))


def score_histogram(scores: dict[str, torch.Tensor], *, bins: int = 40) -> list[dict]:
    """Share of each set's detector scores per bin of [0, 2] (rows: bin centre, one column
    per set)."""
    edges = torch.linspace(0.0, 2.0, bins + 1)
    rows = [{"score": round(float((edges[i] + edges[i + 1]) / 2), 4)} for i in range(bins)]
    for name, values in scores.items():
        counts = torch.histc(values.float().clamp(0, 2), bins=bins, min=0.0, max=2.0)
        shares = counts / max(len(values), 1)
        for row, share in zip(rows, shares.tolist(), strict=True):
            row[name] = round(share, 6)
    return rows


def score_histogram_png(
    path: str | os.PathLike,
    scores: dict[str, torch.Tensor],
    *,
    thresholds: dict[str, float],
    title: str,
) -> None:
    """Overlaid histograms of detector scores with the thresholds as vertical lines."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    bins = torch.linspace(0, 2, 41).numpy()
    for name, values in scores.items():
        if len(values):
            ax.hist(
                values.numpy(), bins=bins, alpha=0.5, density=True, label=f"{name} ({len(values)})"
            )
    for name, value in thresholds.items():
        ax.axvline(
            value,
            linestyle="--",
            color="black" if "calibrated" in name else "grey",
            label=f"{name} {value:.3f}",
        )
    ax.set_xlabel("detector score (max L1 distance of softmax outputs)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


MODEL_STYLES = {
    "baseline": {"color": "tab:blue", "marker": "o"},
    "student": {"color": "tab:orange", "marker": "s"},
    "adversarial": {"color": "tab:green", "marker": "^"},
}


def robustness_curves_png(
    path: str | os.PathLike,
    *,
    pgd_curves: Mapping[str, pd.DataFrame],
    l2_curves: Mapping[str, pd.DataFrame],
    pgd_norm: str,
    pgd_title: str,
    ddn_title: str,
) -> None:
    """Two panels: PGD robust accuracy against eps (columns ``eps``, ``robust_accuracy``)
    and accuracy under an L2 budget from DDN's minimal perturbations (``l2``,
    ``accuracy``), one line per model."""
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    for model, curve in pgd_curves.items():
        left.plot(
            curve["eps"], curve["robust_accuracy"], label=model, **MODEL_STYLES.get(model, {})
        )
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
        right.step(
            curve["l2"],
            curve["accuracy"],
            where="post",
            label=label,
            color=MODEL_STYLES.get(model, {}).get("color"),
        )
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


def roc_png(
    path: str | os.PathLike,
    *,
    roc: Mapping[str, pd.DataFrame],
    auc: Mapping[str, float],
    operating_points: Mapping[str, Mapping[str, tuple[float, float | None]]],
    title: str,
) -> None:
    """ROC curves of the detector per attack (columns ``fpr``, ``tpr``), with each
    threshold's operating point ``{threshold_name: {attack: (fpr, tpr)}}`` marked."""
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    colors = {"pgd": "tab:red", "ddn": "tab:purple"}
    for attack, curve in roc.items():
        ax.plot(
            curve["fpr"],
            curve["tpr"],
            color=colors.get(attack),
            label=f"{attack.upper()} (AUC {auc[attack]:.3f})"
            if auc.get(attack) is not None
            else attack.upper(),
        )
    markers = iter(["o", "^", "s", "D"])
    for name, points in operating_points.items():
        marker = next(markers)
        for attack, (fpr, tpr) in points.items():
            if tpr is None:  # no successful adversarial examples of that attack
                continue
            ax.plot(
                [fpr],
                [tpr],
                marker=marker,
                linestyle="none",
                color=colors.get(attack),
                markeredgecolor="black",
                label=f"{name}, {attack.upper()}",
            )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false-positive rate (clean test images)")
    ax.set_ylabel("detection rate (successful adversarial examples)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def confusion_png(
    path: str | os.PathLike,
    *,
    pairs: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    class_names: Sequence[str],
) -> None:
    """One confusion matrix per model (``{model: (actual, predicted)}`` class names),
    rows = actual, columns = predicted, counts written in the cells."""
    index = {name: i for i, name in enumerate(class_names)}
    fig = Figure(figsize=(5.2 * len(pairs), 4.8))
    axes = fig.subplots(1, len(pairs), squeeze=False)
    for ax, (model, (actual, predicted)) in zip(axes[0], pairs.items(), strict=True):
        matrix = confusion_matrix(
            [index[name] for name in actual],
            [index[name] for name in predicted],
            classes=len(class_names),
        )
        ax.imshow(matrix, cmap="Blues")
        threshold = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(
                    j,
                    i,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if count > threshold else "black",
                )
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=60, fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(f"{model} (test split)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
