"""Writes ``reports/``: ``robustness.md`` (text from ``report``) and ``figures/*.png`` (drawn
by ``figures`` from the stages' plot data, or copied from the stages' PNGs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .figures import confusion_png, robustness_curves_png, roc_png
from .files import atomic_directory
from .report import FIGURES, render_report
from .summary import ATTACKED_MODELS

EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ("PGD on the baseline", "attack_pgd_baseline", "examples_pgd_baseline.png"),
    ("PGD on the student", "attack_pgd_student", "examples_pgd_student.png"),
    ("DDN on the baseline", "attack_ddn_baseline", "examples_ddn_baseline.png"),
    ("DDN on the student", "attack_ddn_student", "examples_ddn_student.png"),
)


def _confusion_pairs(path: Path) -> tuple[list[str], list[str]]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [r["actual"] for r in rows], [r["predicted"] for r in rows]


def write_report(summary: dict[str, Any], *, plots_dir: str | Path, out_dir: str | Path,
                 class_names: Sequence[str]) -> None:
    """Write ``<out_dir>/robustness.md`` and ``<out_dir>/figures/*.png`` (the folder is
    replaced atomically) from ``summary`` and the stages' plot data under ``plots_dir``."""
    plots = Path(plots_dir)
    pgd, ddn = summary["pgd"], summary["ddn"]
    with atomic_directory(out_dir) as tmp:
        figures = tmp / FIGURES
        figures.mkdir()
        robustness_curves_png(
            figures / "robustness_curves.png",
            pgd_curves={m: pd.read_csv(plots / f"attack_pgd_{m}" / "robustness_curve.csv")
                        for m in ATTACKED_MODELS},
            l2_curves={m: pd.read_csv(plots / f"attack_ddn_{m}" / "accuracy_vs_l2.csv")
                       for m in ATTACKED_MODELS},
            pgd_norm=pgd["norm"],
            pgd_title=f"PGD ({pgd['norm']}, {pgd['steps']} steps, {pgd['samples']} images)",
            ddn_title=f"DDN ({ddn['steps']} steps): accuracy under an L2 budget")
        squeezing = summary["squeezing"]
        fixed = squeezing["fixed_threshold"]
        roc_png(figures / "roc.png",
                roc={a: pd.read_csv(plots / "squeeze_detect" / f"roc_{a}.csv")
                     for a in ("pgd", "ddn")  # no file: no successful adversarial examples
                     if (plots / "squeeze_detect" / f"roc_{a}.csv").is_file()},
                auc=squeezing["roc_auc"],
                operating_points={
                    f"calibrated {squeezing['threshold']:.3f}": {
                        a: (squeezing["clean_false_positive_rate"], rate)
                        for a, rate in squeezing["detection_rate"].items()},
                    f"fixed {fixed['threshold']:.3f}": {
                        a: (fixed["clean_false_positive_rate"], rate)
                        for a, rate in fixed["detection_rate"].items()}},
                title="Feature squeezing on the baseline: " + " + ".join(squeezing["squeezers"]))
        confusion_png(figures / "confusion_matrices.png",
                      pairs={m: _confusion_pairs(plots / f"train_{m}" / "plots" / "sklearn"
                                                 / "confusion_matrix.json")
                             for m in ATTACKED_MODELS},
                      class_names=class_names)
        shutil.copyfile(plots / "squeeze_detect" / "scores.png", figures / "detector_scores.png")
        for _, folder, name in EXAMPLES:
            shutil.copyfile(plots / folder / "examples.png", figures / name)
        text = render_report(summary, examples=[(c, n) for c, _, n in EXAMPLES])
        (tmp / "robustness.md").write_text(text + "\n", encoding="utf-8")
