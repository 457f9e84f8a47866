"""Stage ``evaluate``: every stage's record into ``reports/`` (the report, its figures and
``summary.json``) and the headline numbers into ``metrics/evaluate.json``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..data.prepared import load_class_names, load_split
from ..evaluation.checks import combine
from ..evaluation.lipschitz import lipschitz_estimates
from ..reporting.summary import ATTACKED_MODELS, build_summary, headline
from ..reporting.writer import ReportData, write_report
from ..utils.checks import InvalidValue
from ..utils.io import json_text
from .artifacts.adversarial import read_adversarial
from .artifacts.metrics import read_all, write_metrics
from .artifacts.models import load_trained
from .paths import ProjectPaths

STAGE_METRICS: tuple[str, ...] = (
    "download",
    "split",
    "train_baseline",
    "train_teacher",
    "train_student",
    "train_adversarial",
    *(
        f"attack_{attack}_{model}"
        for attack in ("pgd", "autoattack", "ddn")
        for model in ATTACKED_MODELS
    ),
    "squeeze_detect",
)
# (caption, attack, model) of the example grids the report shows
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ("PGD on the baseline", "pgd", "baseline"),
    ("PGD on the student", "pgd", "student"),
    ("AutoAttack on the baseline", "autoattack", "baseline"),
    ("AutoAttack on the student", "autoattack", "student"),
    ("DDN on the baseline", "ddn", "baseline"),
    ("DDN on the student", "ddn", "student"),
    ("AutoAttack on the adversarially trained model", "autoattack", "adversarial"),
)


def _confusion_pairs(paths: ProjectPaths, role: str) -> tuple[list[str], list[str]]:
    rows = json.loads(paths.confusion(role).read_text(encoding="utf-8"))
    return [r["actual"] for r in rows], [r["predicted"] for r in rows]


def report_data(paths: ProjectPaths) -> ReportData:
    """The plot data and PNGs of the upstream stages that the report's figures use."""
    return ReportData(
        pgd_curves={m: pd.read_csv(paths.attack_curve("pgd", m)) for m in ATTACKED_MODELS},
        l2_curves={m: pd.read_csv(paths.attack_curve("ddn", m)) for m in ATTACKED_MODELS},
        roc={
            a: pd.read_csv(paths.roc(a)) for a in ("pgd", "ddn") if paths.roc(a).is_file()
        },  # no file: no successful adversarial examples
        confusion={m: _confusion_pairs(paths, m) for m in ATTACKED_MODELS},
        class_names=load_class_names(paths.prepared),
        detector_scores=paths.scores_png,
        examples=[
            (caption, f"examples_{attack}_{model}.png", paths.examples(attack, model))
            for caption, attack, model in EXAMPLES
        ],
    )


def pgd_curves(frames: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Each model's PGD robustness curve (``ReportData.pgd_curves``) as
    ``{eps as text: robust accuracy}``."""
    return {
        m: {f"{row.eps:g}": float(row.robust_accuracy) for row in frame.itertuples()}
        for m, frame in frames.items()
    }


def combined_robustness(
    paths: ProjectPaths, stage: Mapping[str, dict[str, Any]], model: str
) -> dict[str, Any]:
    """The per-sample worst case over PGD's losses and the AutoAttack ensemble on
    ``model``, and the gradient-masking checks (:func:`~..evaluation.checks.combine`)."""
    try:
        return combine(
            pgd=read_adversarial(paths, "pgd", model),
            pgd_record=stage[f"attack_pgd_{model}"],
            autoattack=read_adversarial(paths, "autoattack", model),
            autoattack_record=stage[f"attack_autoattack_{model}"],
        )
    except InvalidValue:
        raise ValueError(
            f"PGD and AutoAttack of attack@{model} attacked different images: rerun "
            f"the stage (`dvc repro --force attack@{model}`)"
        ) from None


def main() -> None:
    paths = ProjectPaths()
    start = time.perf_counter()
    x, y = load_split(paths.prepared, "test")
    # on the CPU whatever `device` says: cheap, and CUDA's backward is not deterministic
    lipschitz = {
        m: lipschitz_estimates(load_trained(paths, m, "cpu"), x, y) for m in ATTACKED_MODELS
    }
    data = report_data(paths)
    stage = read_all(paths, STAGE_METRICS)
    combined = {m: combined_robustness(paths, stage, m) for m in ATTACKED_MODELS}
    summary = build_summary(stage, lipschitz, pgd_curves(data.pgd_curves), combined)
    write_report(
        summary, data, out_dir=paths.reports, extra_files={paths.summary.name: json_text(summary)}
    )
    write_metrics(
        paths, "evaluate", {**headline(summary), "seconds": round(time.perf_counter() - start, 3)}
    )
    print(
        "evaluate: wrote metrics/evaluate.json and reports/robustness.md; Lipschitz "
        + ", ".join(
            f"{m} bound {v['lipschitz_upper_bound']:.3g} local {v['local_lipschitz']:.3g}"
            for m, v in lipschitz.items()
        )
    )
