"""Checks that a written report says what the metrics files say, number by number.

The expected cells are computed here from the *stage* records and plot data (not from the
summary the report was made from), so a wrong mapping in ``summary.py`` or ``markdown.py``
fails: the worst case over every attack from the saved adversarial sets, the confidence
intervals with Wilson's formula written out here. The cells no stage before ``evaluate``
measures (Lipschitz estimates, the masking checks' verdicts) are compared with
``reports/summary.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every table of a markdown text as rows of {header: cell}."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            header, body = block[0], block[2:]
            tables.append([dict(zip(header, row, strict=True)) for row in body])
            block = []
    return tables


def table_with(tables, column: str) -> list[dict[str, str]]:
    found = [t for t in tables if t and column in t[0]]
    assert len(found) == 1, f"expected one table with a {column!r} column, found {len(found)}"
    return found[0]


DASH = "–"


def f4(value: float | None) -> str:
    return DASH if value is None else f"{value:.4f}"


def l2(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def flag(value: bool | None) -> str:
    return DASH if value is None else ("**yes**" if value else "no")


def wilson(robust: float | None, n: int) -> str:
    """The 95% Wilson interval of ``robust`` over ``n`` images, as the report prints it."""
    if robust is None:
        return DASH
    k, z = round(robust * n), 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return f"{max(centre - half, 0.0):.4f}–{min(centre + half, 1.0):.4f}"


def _row(
    clean=None, robust=None, success=None, median=None, detected=None, undetected=None, *, n: int
) -> dict[str, str]:
    return {
        "clean acc. (attacked images)": f4(clean),
        "robust acc.": f4(robust),
        "95% interval": wilson(robust, n),
        "attack success": f4(success),
        "DDN median L2": l2(median),
        "detected": f4(detected),
        "fooled and undetected": f4(undetected),
    }


def _curves(root: Path) -> dict[str, dict[str, float]]:
    """Each attacked model's PGD curve from its plot data, ``{eps as text: accuracy}``."""
    out = {}
    for model in ("baseline", "student"):
        lines = (root / f"plots/attack_pgd_{model}/robustness_curve.csv").read_text().split()
        assert lines[0] == "eps,robust_accuracy"
        out[model] = {f"{float(e):g}": float(a) for e, a in (x.split(",") for x in lines[1:])}
    return out


def assert_report_matches_metrics(report: str, root: Path) -> None:
    """``report`` (a robustness.md) against the stage records ``<root>/metrics/*.json``, the
    curves in ``<root>/plots`` and, for the Lipschitz cells, ``<root>/reports/summary.json``."""
    root = Path(root)
    m = {p.stem: json.loads(p.read_text()) for p in (root / "metrics").glob("*.json")}
    summary = json.loads((root / "reports/summary.json").read_text())
    tables = markdown_tables(report)
    pgd_b, ddn_b = m["attack_pgd_baseline"], m["attack_ddn_baseline"]
    sq = m["squeeze_detect"]
    runs = sq["adaptive"]
    det_ddn = sq["detection_rate"]["ddn"]

    aa_b = m["attack_autoattack_baseline"]
    n = pgd_b["samples"]
    # (model, defense key, defense label) of each classifier the report compares
    classifiers = (
        ("baseline", "none", "none"),
        ("student", "distillation", "distillation"),
        ("adversarial", "adversarial_training", "adversarial training"),
    )
    defense_of = {model: defense for model, defense, _ in classifiers}

    def stage_row(record: dict) -> dict[str, str]:
        """An ensemble stage's row: its robust accuracy is the last attack's cumulative."""
        robust = record["robust_accuracy_by_attack"][record["attacks"][-1]]
        clean = record["clean_accuracy"]
        return _row(clean, robust, (clean - robust) / clean if clean else None, n=n)

    def saved(attack: str, model: str) -> dict:
        return torch.load(root / f"data/adversarial/{attack}_{model}.pt", weights_only=True)

    def worst_case(model: str) -> float:
        """Robust under PGD's losses and under AutoAttack, per image, from the saved sets
        (DVC-cached: a fresh clone without a DVC remote has none; then the summary's)."""
        if not (root / "data/adversarial/pgd_baseline.pt").is_file():
            return summary["robustness"][model][defense_of[model]]["worst_case"]
        pgd, aa = saved("pgd", model), saved("autoattack", model)
        return float((pgd["clean_correct"] & ~pgd["success"] & ~aa["success"]).double().mean())

    def undetected(success: float | None, detected: float | None) -> float | None:
        return None if success is None or detected is None else success * (1 - detected)

    def detector_run(run: dict) -> dict[str, str]:
        wrong = run["misclassified_rate"]
        clean = pgd_b["clean_accuracy"]
        return _row(
            clean,
            None if wrong is None else clean * (1 - wrong),
            wrong,
            detected=run["detection_rate"],
            undetected=run["undetected_success_rate"],
            n=runs["samples"],
        )

    expected = {
        ("baseline", "none", "PGD"): stage_row(pgd_b),
        ("baseline", "none", "AutoAttack"): stage_row(aa_b),
        ("baseline", "none", "DDN"): _row(
            ddn_b["clean_accuracy"],
            ddn_b["robust_accuracy"],
            ddn_b["attack_success_rate"],
            ddn_b["median_l2"],
            n=n,
        ),
        ("baseline", "feature squeezing", "PGD (plain)"): detector_run(runs["plain"]),
        ("baseline", "feature squeezing", "adaptive PGD (BPDA)"): detector_run(runs["adaptive"]),
        ("baseline", "feature squeezing", "DDN"): _row(
            ddn_b["clean_accuracy"],
            ddn_b["robust_accuracy"],
            ddn_b["attack_success_rate"],
            ddn_b["median_l2"],
            detected=det_ddn,
            undetected=undetected(ddn_b["attack_success_rate"], det_ddn),
            n=n,
        ),
    }
    for model, _, label in classifiers[1:]:
        ddn = m[f"attack_ddn_{model}"]
        expected |= {
            (model, label, "PGD"): stage_row(m[f"attack_pgd_{model}"]),
            (model, label, "AutoAttack"): stage_row(m[f"attack_autoattack_{model}"]),
            (model, label, "DDN"): _row(
                ddn["clean_accuracy"],
                ddn["robust_accuracy"],
                ddn["attack_success_rate"],
                ddn["median_l2"],
                n=n,
            ),
        }
    rows = {
        (r.pop("model"), r.pop("defense"), r.pop("attack")): r
        for r in table_with(tables, "fooled and undetected")
    }
    assert rows == expected

    # the setup table: data, models, attacks and sample counts
    setup = {r["setup"]: r[""] for r in table_with(tables, "setup")}
    download, split, train = m["download"], m["split"], m["train_baseline"]
    channels, height, width = split["image_shape"]
    assert setup["data"].startswith(
        f"{download['source']}: {download['images']:,} images in {download['classes']} classes, "
        f"resized to {width}x{height} {'gray' if channels == 1 else 'RGB'}"
    )
    assert (
        f"{split['train']:,} train, {split['val']:,} validation, {split['test']:,} test"
        in setup["data"]
    )
    assert setup["models"].startswith(
        f"{train['arch']} (width {train['width']}), {train['epochs']} epochs each"
    )
    assert f"distilled at T = {m['train_student']['temperature']:g}" in setup["models"]
    assert f"adversarial, {m['train_adversarial']['epochs']} epochs (" in setup["models"]
    assert setup["PGD"] == (
        f"{pgd_b['norm']} eps {pgd_b['eps']:g}, {pgd_b['steps']} steps, "
        f"losses {', '.join(pgd_b['losses'])}; the first "
        f"{pgd_b['samples']} test images"
    )
    assert setup["DDN"] == f"{ddn_b['steps']} steps; the first {ddn_b['samples']} test images"
    assert f"({' + '.join(sq['selected_squeezers'])})" in setup["detector"]
    assert f"false-positive rate of {f4(sq['fpr'])} on clean validation images" in setup["detector"]
    assert f"{runs['steps']} steps on the {runs['samples']} attacked images" in setup["detector"]

    assert setup["AutoAttack"] == (
        f"{aa_b['version']}: {aa_b['norm']} eps {aa_b['eps']:g}; APGD-CE and APGD-T over the "
        f"top {aa_b['n_target_classes']} other classes, {aa_b['steps']} steps each; Square, "
        f"{aa_b['square_queries']:,} queries; the first {aa_b['samples']} test images"
    )

    # the headline: per classifier the worst case over every attack, its interval, each
    # attack's cumulative number in its stage, how many masking checks fired
    labels = {
        "pgd_ce": "PGD-CE",
        "pgd_margin": "PGD-margin",
        "apgd_ce": "APGD-CE",
        "apgd_t": "APGD-T",
        "square": "Square",
    }
    headline = {r["model"]: r for r in table_with(tables, "worst case")}
    for model, defense, label in classifiers:
        pgd, aa = m[f"attack_pgd_{model}"], m[f"attack_autoattack_{model}"]
        worst = worst_case(model)
        checks = summary["robustness"][model][defense]["checks"]
        fired = sum(bool(c["flag"]) for c in checks.values())
        assert headline[model] == {
            "model": model,
            "defense": label,
            "clean acc. (attacked images)": f4(pgd["clean_accuracy"]),
            "worst case": f"**{f4(worst)}**",
            "95% interval": wilson(worst, n),
            **{labels[k]: f4(v) for k, v in pgd["robust_accuracy_by_attack"].items()},
            **{labels[k]: f4(v) for k, v in aa["robust_accuracy_by_attack"].items()},
            "masking checks fired": f"**{fired} of {len(checks)}**" if fired else "none",
        }
        assert m["evaluate"]["robust_accuracy"][model] == worst
        assert m["evaluate"]["gradient_masking"][model] == bool(fired)
    verdicts = {
        r["gradient-masking check"]: r for r in table_with(tables, "gradient-masking check")
    }
    check_names = {
        "Square fools images every gradient attack missed": "gradient_free_breaks_more",
        "cross-entropy attacks leave >= 5 points more than the worst case": "ce_leaves_more",
        "robust accuracy above 0.10 at a very large eps": "large_eps_survives",
        "PGD with 100 steps leaves more than with 10": "more_steps_weaker",
        "zero input gradients on >= 5% of the images": "zero_gradients",
    }
    assert set(verdicts) == set(check_names)
    for model, defense, _ in classifiers:
        checks = summary["robustness"][model][defense]["checks"]
        for label, row in verdicts.items():
            assert row[model].split(":")[0] == flag(checks[check_names[label]]["flag"])

    # the sentences around the tables
    assert f"share of the {pgd_b['samples']} attacked test images classified correctly" in report
    assert f"teacher on {f4(m['train_student']['teacher_agreement'])} of the test" in report
    adv = m["train_adversarial"]
    assert (
        f"kept epoch {adv['best_epoch']}, the one with the highest robust accuracy under "
        f"PGD-10 on {adv['val_images']} validation images: "
        f"{f4(adv['val_robust_accuracy'])} (clean {f4(adv['val_subset_accuracy'])}, FGSM "
        f"{f4(adv['val_fgsm_accuracy'])}); on the first {adv['test_images']} test images "
        f"{f4(adv['test_robust_accuracy'])} under PGD-10 (clean "
        f"{f4(adv['test_subset_accuracy'])})"
    ) in report
    assert ("**catastrophic overfitting**" in report) == bool(adv["collapsed_epochs"])

    curve = {r["eps"]: r for r in table_with(tables, "eps")}
    for model, values in _curves(root).items():
        assert {eps: curve[model][eps] for eps in values} == {
            eps: f4(v) for eps, v in values.items()
        }
        assert len(curve[model]) == len(values) + 1

    test_column = f"test accuracy (all {split['test']} test images)"
    models = {r["model"]: r for r in table_with(tables, test_column)}
    for role in ("baseline", "teacher", "student", "adversarial"):
        assert models[role][test_column] == f4(m[f"train_{role}"]["test_accuracy"])
        assert models[role]["macro F1"] == f4(m[f"train_{role}"]["macro_f1"])

    lipschitz = {
        r["model"]: r for r in table_with(tables, "local estimate: largest margin-gradient norm")
    }
    for model, _, _ in classifiers:
        values = summary["models"][model]
        assert (
            lipschitz[model]["upper bound: product of layer norms"]
            == f"{values['lipschitz_upper_bound']:.3g}"
        )
        assert (
            lipschitz[model]["local estimate: largest margin-gradient norm"]
            == f"{values['local_lipschitz']:.3g}"
        )
        # the margin is sqrt(2)-Lipschitz in the logits
        assert 2**0.5 * values["lipschitz_upper_bound"] >= values["local_lipschitz"] > 0

    # every attack on the detector in one table, at both thresholds
    fixed = sq["fixed_threshold"]
    calibrated = f"detected at {sq['threshold']:.3f} (calibrated)"
    fixed_label = f"detected at {fixed['threshold']:.3f} (fixed)"
    detector = {
        r.pop("attack on the detector"): r for r in table_with(tables, "attack on the detector")
    }

    def cells(examples, rate, fixed_rate=None, auc=None) -> dict[str, str]:
        return {
            "adversarial examples": DASH if examples is None else str(examples),
            calibrated: f4(rate),
            fixed_label: f4(fixed_rate),
            "ROC-AUC": f4(auc),
        }

    def run_examples(run: dict):
        wrong = run["misclassified_rate"]
        return None if wrong is None else round(wrong * runs["samples"])

    steps = runs["steps"]
    assert detector == {
        "PGD examples of attack@baseline (each image's first successful loss)": cells(
            sq["adversarial_examples"]["pgd"],
            sq["detection_rate"]["pgd"],
            fixed["detection_rate"]["pgd"],
            sq["roc_auc"]["pgd"],
        ),
        "DDN examples of attack@baseline (minimal L2)": cells(
            sq["adversarial_examples"]["ddn"],
            det_ddn,
            fixed["detection_rate"]["ddn"],
            sq["roc_auc"]["ddn"],
        ),
        f"PGD, plain: margin loss, all {steps} steps, ignores the detector": cells(
            run_examples(runs["plain"]), runs["plain"]["detection_rate"]
        ),
        "PGD, plain, stopped at the first misclassified step": cells(
            run_examples(runs["plain_first_iterate"]), runs["plain_first_iterate"]["detection_rate"]
        ),
        f"adaptive PGD: BPDA through the squeezers, {steps} steps": cells(
            run_examples(runs["adaptive"]), runs["adaptive"]["detection_rate"]
        ),
        f"clean test images (all {split['test']}): false positives": {
            "adversarial examples": "",
            calibrated: f4(sq["clean_false_positive_rate"]),
            fixed_label: f4(fixed["clean_false_positive_rate"]),
            "ROC-AUC": "",
        },
    }
