"""The pipeline's summary (the content of ``metrics/evaluate.json``): every stage's metrics
in one place. ``build_summary`` (pure) arranges them as model x defense x attack, adds the
robustness curves, the detector's operating points and the Lipschitz estimates;
``summary_rows`` flattens that into the report's table rows.
"""

from __future__ import annotations

from typing import Any

# The models the report compares, in its order.
ATTACKED_MODELS: tuple[str, ...] = ("baseline", "student")


def _pgd_row(pgd: dict[str, Any], *, with_masking: bool) -> dict[str, Any]:
    """PGD's row: an image counts as robust only when it survives every loss (per-sample
    worst case, ``robust_accuracy_all_losses``), which is also the set of adversarial
    examples the attack stage saves and the detector is scored on. ``with_masking`` adds
    the classifier's gradient-masking flag and its robust accuracy per loss."""
    clean, robust = pgd["clean_accuracy"], pgd["robust_accuracy_all_losses"]
    row = {
        "clean_accuracy": clean,
        "robust_accuracy": robust,
        "attack_success_rate": (clean - robust) / clean if clean else None,
    }
    if with_masking:
        row.update(gradient_masking=pgd["gradient_masking"], by_loss=dict(pgd["by_loss"]))
    return row


def _ddn_row(ddn: dict[str, Any]) -> dict[str, Any]:
    return {
        "clean_accuracy": ddn["clean_accuracy"],
        "robust_accuracy": ddn["robust_accuracy"],
        "attack_success_rate": ddn["attack_success_rate"],
        "median_l2": ddn["median_l2"],
    }


def _detected_row(row: dict[str, Any], detection_rate: float) -> dict[str, Any]:
    """An attack's row seen through the detector: the classifier's numbers plus the share
    of its successful adversarial examples flagged, and the share of clean-correct samples
    that end up fooled *and* unflagged (exact when ``detection_rate`` was measured on
    exactly the examples counted in ``attack_success_rate``)."""
    success = row["attack_success_rate"]
    undetected = (None if detection_rate is None or success is None
                  else success * (1.0 - detection_rate))
    return {**row, "detection_rate": detection_rate, "undetected_success_rate": undetected}


def _robustness(stage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``robustness[model][defense][attack]``: one row of the report's table each."""
    squeeze = stage["squeeze_detect"]
    pgd = {m: stage[f"attack_pgd_{m}"] for m in ATTACKED_MODELS}
    ddn = {m: stage[f"attack_ddn_{m}"] for m in ATTACKED_MODELS}
    adaptive = squeeze["adaptive"]["adaptive"]
    baseline_pgd = _pgd_row(pgd["baseline"], with_masking=True)
    return {
        "baseline": {
            "none": {"pgd": baseline_pgd, "ddn": _ddn_row(ddn["baseline"])},
            "squeezing": {
                # the detector is scored on exactly the row's fooled images: "fooled and
                # undetected" is exact
                "pgd": _detected_row(_pgd_row(pgd["baseline"], with_masking=False),
                                     squeeze["detection_rate"]["pgd"]),
                "ddn": _detected_row(_ddn_row(ddn["baseline"]),
                                     squeeze["detection_rate"]["ddn"]),
                "pgd_adaptive": {
                    "clean_accuracy": baseline_pgd["clean_accuracy"],
                    "attack_success_rate": adaptive["misclassified_rate"],
                    "robust_accuracy": None if adaptive["misclassified_rate"] is None else
                    baseline_pgd["clean_accuracy"] * (1.0 - adaptive["misclassified_rate"]),
                    "detection_rate": adaptive["detection_rate"],
                    "undetected_success_rate": adaptive["undetected_success_rate"],
                },
            },
        },
        "student": {
            "distillation": {"pgd": _pgd_row(pgd["student"], with_masking=True),
                             "ddn": _ddn_row(ddn["student"])},
        },
    }


def _models(stage: dict[str, dict[str, Any]],
            lipschitz: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Test accuracy and macro F1 of each trained model, the Lipschitz estimates where
    measured, and the student's agreement with its teacher and temperature."""
    models = {}
    for role in ("baseline", "teacher", "student"):
        train = stage[f"train_{role}"]
        models[role] = {"test_accuracy": train["test_accuracy"], "macro_f1": train["macro_f1"]}
        if role in lipschitz:
            models[role].update(lipschitz[role])
    models["student"]["teacher_agreement"] = stage["train_student"]["teacher_agreement"]
    models["student"]["temperature"] = stage["train_student"]["temperature"]
    return models


def _squeezing(squeeze: dict[str, Any]) -> dict[str, Any]:
    """The detector's squeezers, thresholds and operating points."""
    return {
        "squeezers": list(squeeze["selected_squeezers"]),
        "threshold": squeeze["threshold"],
        "fpr": squeeze["fpr"],
        "clean_false_positive_rate": squeeze["clean_false_positive_rate"],
        "roc_auc": dict(squeeze["roc_auc"]),
        "detection_rate": dict(squeeze["detection_rate"]),
        "fixed_threshold": dict(squeeze["fixed_threshold"]),
        "adaptive_steps": squeeze["adaptive"]["steps"],
        "plain_pgd_detection_rate": squeeze["adaptive"]["plain"]["detection_rate"],
        "adaptive_pgd_detection_rate": squeeze["adaptive"]["adaptive"]["detection_rate"],
    }


def build_summary(stage: dict[str, dict[str, Any]],
                  lipschitz: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The content of ``metrics/evaluate.json`` (no timing keys; same inputs, same output).

    ``robustness[model][defense][attack]`` holds, per row of the report's table:
    ``clean_accuracy``, ``robust_accuracy`` and ``attack_success_rate`` (RobustBench's
    definitions, from the attack stages), ``median_l2`` (DDN), ``detection_rate`` (the
    detector at its calibrated threshold) and ``undetected_success_rate`` (fooled and not
    flagged, over the clean-correct samples), and ``gradient_masking`` (PGD).
    """
    pgd = {m: stage[f"attack_pgd_{m}"] for m in ATTACKED_MODELS}
    ddn = stage["attack_ddn_baseline"]
    return {
        "models": _models(stage, lipschitz),
        "robustness": _robustness(stage),
        "pgd": {
            "eps": pgd["baseline"]["eps"], "norm": pgd["baseline"]["norm"],
            "steps": pgd["baseline"]["steps"], "samples": pgd["baseline"]["samples"],
            "curve": {m: dict(pgd[m]["curve"]) for m in ATTACKED_MODELS},
        },
        "ddn": {"steps": ddn["steps"], "samples": ddn["samples"]},
        "squeezing": _squeezing(stage["squeeze_detect"]),
    }


# (model, defense, attack, label of the defense, label of the attack)
TABLE_ORDER: tuple[tuple[str, str, str, str, str], ...] = (
    ("baseline", "none", "pgd", "none", "PGD"),
    ("baseline", "none", "ddn", "none", "DDN"),
    ("baseline", "squeezing", "pgd", "feature squeezing", "PGD"),
    ("baseline", "squeezing", "pgd_adaptive", "feature squeezing", "adaptive PGD (BPDA)"),
    ("baseline", "squeezing", "ddn", "feature squeezing", "DDN"),
    ("student", "distillation", "pgd", "distillation", "PGD"),
    ("student", "distillation", "ddn", "distillation", "DDN"),
)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The model x defense x attack rows, in the report's order (missing keys: not
    applicable to that row)."""
    rows = []
    for model, defense, attack, defense_label, attack_label in TABLE_ORDER:
        values = summary["robustness"][model][defense][attack]
        rows.append({"model": model, "defense": defense_label, "attack": attack_label,
                     **{k: v for k, v in values.items() if k != "by_loss"}})
    return rows
