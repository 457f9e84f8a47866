"""Checks that a written report says what the metrics files say, number by number.

The expected cells are computed here from the *stage* metrics files (not from the summary
the report was made from), so a wrong mapping in ``summary.py`` or ``report.py`` fails. The
Lipschitz cells, which no stage before ``evaluate`` measures, are compared with
``metrics/evaluate.json``."""

from __future__ import annotations

import json
from pathlib import Path


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


def _table_with(tables, column: str) -> list[dict[str, str]]:
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


def _row(clean=None, robust=None, success=None, median=None, detected=None,
         undetected=None, masking=None) -> dict[str, str]:
    return {"clean acc.": f4(clean), "robust acc.": f4(robust), "attack success": f4(success),
            "DDN median L2": l2(median), "detected": f4(detected),
            "fooled and undetected": f4(undetected), "gradient masking": flag(masking)}


def assert_report_matches_metrics(report: str, metrics_dir: Path) -> None:
    m = {p.stem: json.loads(p.read_text()) for p in Path(metrics_dir).glob("*.json")}
    tables = markdown_tables(report)
    pgd_b, pgd_s = m["attack_pgd_baseline"], m["attack_pgd_student"]
    ddn_b, ddn_s = m["attack_ddn_baseline"], m["attack_ddn_student"]
    sq = m["squeeze_detect"]
    plain, adaptive = sq["adaptive"]["plain"], sq["adaptive"]["adaptive"]
    det_pgd, det_ddn = sq["detection_rate"]["pgd"], sq["detection_rate"]["ddn"]

    def worst_case(pgd: dict) -> tuple[float, float | None]:
        """PGD's per-sample worst case over the losses: robust accuracy and success rate."""
        robust = pgd["robust_accuracy_all_losses"]
        clean = pgd["clean_accuracy"]
        return robust, (clean - robust) / clean if clean else None

    def undetected(success: float | None, detected: float | None) -> float | None:
        return None if success is None or detected is None else success * (1 - detected)

    robust_b, success_b = worst_case(pgd_b)
    robust_s, success_s = worst_case(pgd_s)
    misclassified = adaptive["misclassified_rate"]
    expected = {
        ("baseline", "none", "PGD"): _row(
            pgd_b["clean_accuracy"], robust_b, success_b, masking=pgd_b["gradient_masking"]),
        ("baseline", "none", "DDN"): _row(
            ddn_b["clean_accuracy"], ddn_b["robust_accuracy"], ddn_b["attack_success_rate"],
            ddn_b["median_l2"]),
        ("baseline", "feature squeezing", "PGD"): _row(
            pgd_b["clean_accuracy"], robust_b, success_b, detected=det_pgd,
            undetected=undetected(success_b, det_pgd)),
        ("baseline", "feature squeezing", "adaptive PGD (BPDA)"): _row(
            pgd_b["clean_accuracy"],
            None if misclassified is None else pgd_b["clean_accuracy"] * (1 - misclassified),
            misclassified, detected=adaptive["detection_rate"],
            undetected=adaptive["undetected_success_rate"]),
        ("baseline", "feature squeezing", "DDN"): _row(
            ddn_b["clean_accuracy"], ddn_b["robust_accuracy"], ddn_b["attack_success_rate"],
            ddn_b["median_l2"], detected=det_ddn,
            undetected=undetected(ddn_b["attack_success_rate"], det_ddn)),
        ("student", "distillation", "PGD"): _row(
            pgd_s["clean_accuracy"], robust_s, success_s, masking=pgd_s["gradient_masking"]),
        ("student", "distillation", "DDN"): _row(
            ddn_s["clean_accuracy"], ddn_s["robust_accuracy"], ddn_s["attack_success_rate"],
            ddn_s["median_l2"]),
    }
    rows = {(r.pop("model"), r.pop("defense"), r.pop("attack")): r
            for r in _table_with(tables, "fooled and undetected")}
    assert rows == expected

    # the sentences around the table
    assert (f"{pgd_b['norm']} eps {pgd_b['eps']:g}, {pgd_b['steps']} steps; DDN: "
            f"{ddn_b['steps']} steps; both on the first {pgd_b['samples']} test images") in report
    assert f"distilled at T = {m['train_student']['temperature']:g}" in report
    assert f"({' + '.join(sq['selected_squeezers'])})" in report
    assert f"false-positive rate of {f4(sq['fpr'])} on clean validation images" in report
    by_loss = ", ".join(f"{loss} {f4(v)}" for loss, v in pgd_s["by_loss"].items())
    assert f"under PGD by loss: {by_loss};" in report
    assert f"teacher on {f4(m['train_student']['teacher_agreement'])} of the test" in report

    curve = {r["eps"]: r for r in _table_with(tables, "eps")}
    for model, metrics in (("baseline", pgd_b), ("student", pgd_s)):
        assert {eps: curve[model][eps] for eps in metrics["curve"]} == {
            eps: f4(v) for eps, v in metrics["curve"].items()}
        assert len(curve[model]) == len(metrics["curve"]) + 1

    models = {r["model"]: r for r in _table_with(tables, "test accuracy")}
    for role in ("baseline", "teacher", "student"):
        assert models[role]["test accuracy"] == f4(m[f"train_{role}"]["test_accuracy"])
        assert models[role]["macro F1"] == f4(m[f"train_{role}"]["macro_f1"])

    lipschitz = {r["model"]: r for r in _table_with(tables, "local estimate: largest "
                                                    "margin-gradient norm")}
    for model in ("baseline", "student"):
        values = m["evaluate"]["models"][model]
        assert lipschitz[model]["upper bound: product of layer norms"] == \
            f"{values['lipschitz_upper_bound']:.3g}"
        assert lipschitz[model]["local estimate: largest margin-gradient norm"] == \
            f"{values['local_lipschitz']:.3g}"
        # the margin is sqrt(2)-Lipschitz in the logits
        assert 2 ** 0.5 * values["lipschitz_upper_bound"] >= values["local_lipschitz"] > 0

    fixed = sq["fixed_threshold"]
    detector = {r.pop("on the test split"): r
                for r in _table_with(tables, "clean false positives")}
    assert detector == {
        "ROC-AUC": {"PGD": f4(sq["roc_auc"]["pgd"]), "DDN": f4(sq["roc_auc"]["ddn"]),
                    "clean false positives": ""},
        f"detected at the calibrated threshold {sq['threshold']:.3f}": {
            "PGD": f4(det_pgd), "DDN": f4(det_ddn),
            "clean false positives": f4(sq["clean_false_positive_rate"])},
        f"detected at the fixed threshold {fixed['threshold']:.3f}": {
            "PGD": f4(fixed["detection_rate"]["pgd"]), "DDN": f4(fixed["detection_rate"]["ddn"]),
            "clean false positives": f4(fixed["clean_false_positive_rate"])},
        f"margin-loss PGD, all {sq['adaptive']['steps']} steps: plain / adaptive (BPDA), "
        "detected at the calibrated threshold": {
            "PGD": f"{f4(plain['detection_rate'])} / {f4(adaptive['detection_rate'])}",
            "DDN": "", "clean false positives": ""},
    }
