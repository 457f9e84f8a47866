"""The pipeline's summary: every stage's record in one place (``reports/summary.json``, what
the report is made from) and its headline (``metrics/evaluate.json``, the one DVC metrics
file: what one compares between experiments).

``build_summary`` (pure) arranges the stage records as setup, models, and model x defense x
attack rows, adds the robustness curves, the detector's operating points and the Lipschitz
estimates; ``summary_rows`` flattens the rows for the report's table; ``headline`` picks the
numbers worth a column in ``dvc exp show``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..utils.stats import wilson_interval

# The classifiers the report compares, in its order: (model, defense, label of the defense)
CLASSIFIERS: tuple[tuple[str, str, str], ...] = (
    ("baseline", "none", "none"),
    ("student", "distillation", "distillation"),
    ("adversarial", "adversarial_training", "adversarial training"),
)
ATTACKED_MODELS: tuple[str, ...] = tuple(model for model, _, _ in CLASSIFIERS)
TRAINED_MODELS: tuple[str, ...] = ("baseline", "teacher", "student", "adversarial")
# what the adversarial training record adds to the model's entry
ADVERSARIAL_KEYS: tuple[str, ...] = (
    "method",
    "init",
    "eps",
    "norm",
    "alpha",
    "steps",
    "beta",
    "warmup_epochs",
    "val_images",
    "test_images",
    "best_epoch",
    "selected_by",
    "val_accuracy",
    "val_subset_accuracy",
    "val_robust_accuracy",
    "val_fgsm_accuracy",
    "test_subset_accuracy",
    "test_robust_accuracy",
    "test_fgsm_accuracy",
    "catastrophic_overfitting",
    "collapsed_epochs",
    "robust_overfitting_drop",
)


def with_interval(row: dict[str, Any], samples: int) -> dict[str, Any]:
    """``row`` with ``robust_accuracy_ci``: the 95% Wilson interval of its robust accuracy
    over ``samples`` attacked images (None when there is no robust accuracy)."""
    robust = row.get("robust_accuracy")
    interval = None if robust is None else wilson_interval(round(robust * samples), samples)
    return {**row, "robust_accuracy_ci": None if interval is None else list(interval)}


def _ensemble_row(record: dict[str, Any]) -> dict[str, Any]:
    """An ensemble stage's row (PGD's losses, AutoAttack's attacks): robust accuracy is the
    per-sample worst case over its attacks (the set of adversarial examples it saves);
    ``by_attack`` the robust accuracy after each attack (cumulative, in order: the first
    one's is its own)."""
    clean, robust = record["clean_accuracy"], record["robust_accuracy"]
    return with_interval(
        {
            "clean_accuracy": clean,
            "robust_accuracy": robust,
            "attack_success_rate": (clean - robust) / clean if clean else None,
            "attacks": list(record["attacks"]),  # the order (JSON sorts by_attack's keys)
            "by_attack": dict(record["robust_accuracy_by_attack"]),
        },
        record["samples"],
    )


def _ddn_row(ddn: dict[str, Any]) -> dict[str, Any]:
    return with_interval(
        {
            "clean_accuracy": ddn["clean_accuracy"],
            "robust_accuracy": ddn["robust_accuracy"],
            "attack_success_rate": ddn["attack_success_rate"],
            "median_l2": ddn["median_l2"],
        },
        ddn["samples"],
    )


def _detected_row(row: dict[str, Any], detection_rate: float | None) -> dict[str, Any]:
    """An attack's row seen through the detector: the classifier's numbers plus the share
    of its successful adversarial examples flagged, and the share of clean-correct samples
    that end up fooled *and* unflagged (exact when ``detection_rate`` was measured on
    exactly the examples counted in ``attack_success_rate``)."""
    success = row["attack_success_rate"]
    undetected = (
        None if detection_rate is None or success is None else success * (1.0 - detection_rate)
    )
    return {**row, "detection_rate": detection_rate, "undetected_success_rate": undetected}


def _detector_run_row(run: dict[str, Any], clean_accuracy: float, samples: int) -> dict[str, Any]:
    """A PGD run of ``squeeze_detect`` (plain or adaptive) on the clean-correct attacked
    images: the classifier's numbers and the detector's."""
    misclassified = run["misclassified_rate"]
    return with_interval(
        {
            "clean_accuracy": clean_accuracy,
            "attack_success_rate": misclassified,
            "robust_accuracy": None
            if misclassified is None
            else clean_accuracy * (1.0 - misclassified),
            "detection_rate": run["detection_rate"],
            "undetected_success_rate": run["undetected_success_rate"],
        },
        samples,
    )


def _worst(combined: dict[str, Any]) -> dict[str, Any]:
    """A classifier's per-sample worst case over every attack at the headline budget, its
    interval and the gradient-masking checks (from the evaluate stage)."""
    worst = combined["worst_case"]
    return {
        "worst_case": worst,
        "worst_case_ci": with_interval({"robust_accuracy": worst}, combined["samples"])[
            "robust_accuracy_ci"
        ],
        "checks": combined["checks"],
        "gradient_masking": combined["gradient_masking"],
    }


def _robustness(
    stage: dict[str, dict[str, Any]], combined: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """``robustness[model][defense][attack]``: one row of the report's table each, and per
    classifier ``worst_case`` (the robust accuracy left after every attack within the
    headline budget, per sample: PGD's losses, APGD-CE, APGD-T, Square), its interval and
    the masking checks. The detector changes no answer: it has none of its own."""
    squeeze = stage["squeeze_detect"]
    runs = squeeze["adaptive"]

    def attacks(model: str) -> dict[str, Any]:
        return {
            "pgd": _ensemble_row(stage[f"attack_pgd_{model}"]),
            "autoattack": _ensemble_row(stage[f"attack_autoattack_{model}"]),
            "ddn": _ddn_row(stage[f"attack_ddn_{model}"]),
            **_worst(combined[model]),
        }

    baseline = attacks("baseline")
    clean, samples = baseline["pgd"]["clean_accuracy"], runs["samples"]
    rows = {
        model: {defense: attacks(model)} for model, defense, _ in CLASSIFIERS if model != "baseline"
    }
    return {
        "baseline": {
            "none": baseline,
            "squeezing": {
                # plain and adaptive PGD: the same images, budget and steps, one run each
                "pgd_plain": _detector_run_row(runs["plain"], clean, samples),
                "pgd_adaptive": _detector_run_row(runs["adaptive"], clean, samples),
                # the detector is scored on exactly DDN's fooled images: exact
                "ddn": _detected_row(baseline["ddn"], squeeze["detection_rate"]["ddn"]),
            },
        },
        **rows,
    }


def _models(
    stage: dict[str, dict[str, Any]], lipschitz: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Test accuracy and macro F1 of each trained model on the whole test split, its epochs, the
    Lipschitz estimates where measured, the student's agreement with its teacher and
    temperature, and the adversarial training's method and guard (``ADVERSARIAL_KEYS``)."""
    models = {}
    for role in TRAINED_MODELS:
        train = stage[f"train_{role}"]
        models[role] = {
            "test_accuracy": train["test_accuracy"],
            "macro_f1": train["macro_f1"],
            "epochs": train["epochs"],
        }
        if role in lipschitz:
            models[role].update(lipschitz[role])
    models["student"]["teacher_agreement"] = stage["train_student"]["teacher_agreement"]
    models["student"]["temperature"] = stage["train_student"]["temperature"]
    adversarial = stage["train_adversarial"]
    models["adversarial"].update({key: adversarial[key] for key in ADVERSARIAL_KEYS})
    return models


def _setup(stage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What made the results: the data, the architecture and training, the attacks'
    settings and how many images they attacked."""
    download, split = stage["download"], stage["split"]
    baseline, pgd = stage["train_baseline"], stage["attack_pgd_baseline"]
    ddn, squeeze = stage["attack_ddn_baseline"], stage["squeeze_detect"]
    aa = stage["attack_autoattack_baseline"]
    return {
        "data": {
            "source": download["source"],
            "images": download["images"],
            "classes": download["classes"],
            "image_shape": list(split["image_shape"]),
            "train": split["train"],
            "val": split["val"],
            "test": split["test"],
        },
        "training": {
            "arch": baseline["arch"],
            "width": baseline["width"],
            "epochs": baseline["epochs"],
        },
        "pgd": {
            "norm": pgd["norm"],
            "eps": pgd["eps"],
            "steps": pgd["steps"],
            "losses": list(pgd["losses"]),
            "samples": pgd["samples"],
        },
        "autoattack": {
            key: aa[key]
            for key in (
                "version",
                "norm",
                "eps",
                "steps",
                "n_target_classes",
                "square_queries",
                "samples",
            )
        }
        | {"attacks": list(aa["attacks"])},
        "ddn": {"steps": ddn["steps"], "samples": ddn["samples"]},
        "squeezing": {
            "squeezers": list(squeeze["selected_squeezers"]),
            "fpr": squeeze["fpr"],
            "adaptive_steps": squeeze["adaptive"]["steps"],
            "adaptive_samples": squeeze["adaptive"]["samples"],
        },
    }


def _squeezing(squeeze: dict[str, Any]) -> dict[str, Any]:
    """The detector's squeezers, thresholds and operating points, and every attack on it
    (``attacks``: the attack stages' examples and the detector stage's own PGD runs)."""
    fixed, runs = squeeze["fixed_threshold"], squeeze["adaptive"]
    stage_examples = {
        name: {
            "examples": squeeze["adversarial_examples"][name],
            "detection_rate": squeeze["detection_rate"][name],
            "fixed_detection_rate": fixed["detection_rate"][name],
            "roc_auc": squeeze["roc_auc"][name],
        }
        for name in ("pgd", "ddn")
    }
    pgd_runs = {
        name: {
            "examples": (
                None
                if runs[name]["misclassified_rate"] is None
                else round(runs[name]["misclassified_rate"] * runs["samples"])
            ),
            "detection_rate": runs[name]["detection_rate"],
        }
        for name in ("plain", "plain_first_iterate", "adaptive")
    }
    return {
        "squeezers": list(squeeze["selected_squeezers"]),
        "threshold": squeeze["threshold"],
        "fpr": squeeze["fpr"],
        "clean_false_positive_rate": squeeze["clean_false_positive_rate"],
        "roc_auc": dict(squeeze["roc_auc"]),
        "detection_rate": dict(squeeze["detection_rate"]),
        "fixed_threshold": dict(fixed),
        "adaptive_steps": runs["steps"],
        "attacks": {**stage_examples, **pgd_runs},
    }


def build_summary(
    stage: dict[str, dict[str, Any]],
    lipschitz: dict[str, dict[str, float]],
    curves: Mapping[str, Mapping[str, float]],
    combined: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The content of ``reports/summary.json`` (no timing keys; same inputs, same output).

    ``stage`` holds every stage record by name, ``curves`` each attacked model's PGD
    robustness curve (``{eps as text: robust accuracy}``), ``combined`` each attacked
    model's per-sample worst case over every attack and its masking checks
    (``{"samples", "worst_case", "checks", "gradient_masking"}``).
    ``robustness[model][defense][attack]`` holds, per row of the report's table:
    ``clean_accuracy``, ``robust_accuracy`` (with ``robust_accuracy_ci``, its 95% Wilson
    interval) and ``attack_success_rate`` (RobustBench's definitions, from the attack
    stages), ``by_attack`` (ensembles: robust accuracy after each attack), ``median_l2``
    (DDN), ``detection_rate`` (the detector at its calibrated threshold) and
    ``undetected_success_rate`` (fooled and not flagged, over the clean-correct samples).
    """
    pgd = stage["attack_pgd_baseline"]
    ddn = stage["attack_ddn_baseline"]
    return {
        "setup": _setup(stage),
        "models": _models(stage, lipschitz),
        "robustness": _robustness(stage, combined),
        "pgd": {
            "eps": pgd["eps"],
            "norm": pgd["norm"],
            "steps": pgd["steps"],
            "samples": pgd["samples"],
            "curve": {m: dict(curves[m]) for m in ATTACKED_MODELS},
        },
        "ddn": {"steps": ddn["steps"], "samples": ddn["samples"]},
        "squeezing": _squeezing(stage["squeeze_detect"]),
    }


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The content of ``metrics/evaluate.json``: the few numbers one compares between
    experiments (each is in the report; everything else is in ``reports/summary.json``),
    few enough that ``dvc exp show``'s parameters and metrics fit 80 columns: per model its
    test accuracy, per classifier the worst case over every attack, whether a masking check
    fired and DDN's median L2; the detector's threshold, false positives and how it fares
    against the adaptive attack."""
    rows, models, squeezing = summary["robustness"], summary["models"], summary["squeezing"]
    classifier = {model: rows[model][defense] for model, defense, _ in CLASSIFIERS}
    adaptive = rows["baseline"]["squeezing"]["pgd_adaptive"]
    return {
        "test_accuracy": {role: models[role]["test_accuracy"] for role in TRAINED_MODELS},
        "robust_accuracy": {m: row["worst_case"] for m, row in classifier.items()},
        "gradient_masking": {m: row["gradient_masking"] for m, row in classifier.items()},
        "median_l2": {m: row["ddn"]["median_l2"] for m, row in classifier.items()},
        "detector": {
            "threshold": squeezing["threshold"],
            "false_positive_rate": squeezing["clean_false_positive_rate"],
            "adaptive_detection_rate": adaptive["detection_rate"],
            "adaptive_undetected_success_rate": adaptive["undetected_success_rate"],
        },
    }


# (model, defense, attack, label of the defense, label of the attack)
CLASSIFIER_ATTACKS: tuple[tuple[str, str], ...] = (
    ("pgd", "PGD"),
    ("autoattack", "AutoAttack"),
    ("ddn", "DDN"),
)
TABLE_ORDER: tuple[tuple[str, str, str, str, str], ...] = (
    *((("baseline", "none", attack, "none", label) for attack, label in CLASSIFIER_ATTACKS)),
    ("baseline", "squeezing", "pgd_plain", "feature squeezing", "PGD (plain)"),
    ("baseline", "squeezing", "pgd_adaptive", "feature squeezing", "adaptive PGD (BPDA)"),
    ("baseline", "squeezing", "ddn", "feature squeezing", "DDN"),
    *(
        (model, defense, attack, defense_label, label)
        for model, defense, defense_label in CLASSIFIERS
        if model != "baseline"
        for attack, label in CLASSIFIER_ATTACKS
    ),
)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The model x defense x attack rows, in the report's order (missing keys: not
    applicable to that row)."""
    rows = []
    for model, defense, attack, defense_label, attack_label in TABLE_ORDER:
        values = summary["robustness"][model][defense][attack]
        rows.append(
            {
                "model": model,
                "defense": defense_label,
                "attack": attack_label,
                **{k: v for k, v in values.items() if k not in ("attacks", "by_attack")},
            }
        )
    return rows
