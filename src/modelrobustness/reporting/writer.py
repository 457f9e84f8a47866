"""Writes the report folder: ``robustness.md`` (text from ``markdown``) and ``figures/*.png``
(drawn by ``figures`` from the plot data handed in, or copied from the stages' PNGs). It
knows no artifact path: the caller reads the stages' outputs and passes their content."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..utils.io import atomic_directory
from .figures import confusion_png, robustness_curves_png, roc_png
from .markdown import FIGURES, render_report


@dataclass(frozen=True)
class ReportData:
    """What the figures are drawn from, besides the summary.

    ``pgd_curves`` (columns eps, robust_accuracy) and ``l2_curves`` (l2, accuracy) per
    model; ``roc`` (fpr, tpr) per attack with successful adversarial examples;
    ``confusion`` (actual, predicted class names) per model; ``detector_scores`` the PNG of
    the detector's score histogram; ``examples`` (caption, file name in the report, PNG)."""

    pgd_curves: Mapping[str, pd.DataFrame]
    l2_curves: Mapping[str, pd.DataFrame]
    roc: Mapping[str, pd.DataFrame]
    confusion: Mapping[str, tuple[Sequence[str], Sequence[str]]]
    class_names: Sequence[str]
    detector_scores: Path
    examples: Sequence[tuple[str, str, Path]]


def write_report(
    summary: dict[str, Any],
    data: ReportData,
    *,
    out_dir: str | Path,
    extra_files: Mapping[str, str] | None = None,
) -> None:
    """Write ``<out_dir>/robustness.md``, ``<out_dir>/figures/*.png`` and ``extra_files``
    (name: text); the folder is replaced atomically."""
    pgd, ddn = summary["pgd"], summary["ddn"]
    with atomic_directory(out_dir) as tmp:
        figures = tmp / FIGURES
        figures.mkdir()
        robustness_curves_png(
            figures / "robustness_curves.png",
            pgd_curves=data.pgd_curves,
            l2_curves=data.l2_curves,
            pgd_norm=pgd["norm"],
            pgd_title=f"PGD ({pgd['norm']}, {pgd['steps']} steps, {pgd['samples']} images)",
            ddn_title=f"DDN ({ddn['steps']} steps): accuracy under an L2 budget",
        )
        squeezing = summary["squeezing"]
        fixed = squeezing["fixed_threshold"]
        roc_png(
            figures / "roc.png",
            roc=data.roc,
            auc=squeezing["roc_auc"],
            operating_points={
                f"calibrated {squeezing['threshold']:.3f}": {
                    a: (squeezing["clean_false_positive_rate"], rate)
                    for a, rate in squeezing["detection_rate"].items()
                },
                f"fixed {fixed['threshold']:.3f}": {
                    a: (fixed["clean_false_positive_rate"], rate)
                    for a, rate in fixed["detection_rate"].items()
                },
            },
            title="Feature squeezing on the baseline: " + " + ".join(squeezing["squeezers"]),
        )
        confusion_png(
            figures / "confusion_matrices.png", pairs=data.confusion, class_names=data.class_names
        )
        shutil.copyfile(data.detector_scores, figures / "detector_scores.png")
        for _, name, source in data.examples:
            shutil.copyfile(source, figures / name)
        text = render_report(summary, examples=[(c, n) for c, n, _ in data.examples])
        (tmp / "robustness.md").write_text(text + "\n", encoding="utf-8")
        for name, content in (extra_files or {}).items():
            (tmp / name).write_text(content, encoding="utf-8")
