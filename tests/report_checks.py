"""Checks that a written report says what the metrics files say, number by number.

The expected cells are computed here from the *stage* metrics files (not from the summary
the report was made from), so a wrong mapping in ``summary.py`` or ``report.py`` fails."""

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


def f4(value: float) -> str:
    return f"{value:.4f}"


def assert_report_matches_metrics(report: str, metrics_dir: Path) -> None:
    m = {p.stem: json.loads(p.read_text()) for p in Path(metrics_dir).glob("*.json")}
    tables = markdown_tables(report)
    rows = {(r["model"], r["defense"], r["attack"]): r
            for r in _table_with(tables, "fooled and undetected")}
    pgd_b, pgd_s = m["attack_pgd_baseline"], m["attack_pgd_student"]
    ddn_b, ddn_s = m["attack_ddn_baseline"], m["attack_ddn_student"]
    sq = m["squeeze_detect"]
    adaptive = sq["adaptive"]["adaptive"]
    expected = {
        ("baseline", "none", "PGD"): {
            "clean acc.": f4(pgd_b["clean_accuracy"]), "robust acc.": f4(pgd_b["robust_accuracy"]),
            "attack success": f4(pgd_b["attack_success_rate"]),
            "gradient masking": "**yes**" if pgd_b["gradient_masking"] else "no"},
        ("baseline", "none", "DDN"): {
            "clean acc.": f4(ddn_b["clean_accuracy"]), "robust acc.": f4(ddn_b["robust_accuracy"]),
            "attack success": f4(ddn_b["attack_success_rate"]),
            "DDN median L2": f"{ddn_b['median_l2']:.3f}"},
        ("baseline", "feature squeezing", "PGD"): {
            "detected": f4(sq["detection_rate"]["pgd"]),
            "fooled and undetected": f4(pgd_b["attack_success_rate"]
                                        * (1 - sq["detection_rate"]["pgd"]))},
        ("baseline", "feature squeezing", "DDN"): {
            "detected": f4(sq["detection_rate"]["ddn"]),
            "DDN median L2": f"{ddn_b['median_l2']:.3f}"},
        ("baseline", "feature squeezing", "adaptive PGD (BPDA)"): {
            "attack success": f4(adaptive["misclassified_rate"]),
            "detected": f4(adaptive["detection_rate"]),
            "fooled and undetected": f4(adaptive["undetected_success_rate"])},
        ("student", "distillation", "PGD"): {
            "clean acc.": f4(pgd_s["clean_accuracy"]), "robust acc.": f4(pgd_s["robust_accuracy"]),
            "attack success": f4(pgd_s["attack_success_rate"]),
            "gradient masking": "**yes**" if pgd_s["gradient_masking"] else "no"},
        ("student", "distillation", "DDN"): {
            "robust acc.": f4(ddn_s["robust_accuracy"]),
            "DDN median L2": f"{ddn_s['median_l2']:.3f}"},
    }
    assert set(rows) == set(expected)
    for key, cells in expected.items():
        for column, value in cells.items():
            assert rows[key][column] == value, (key, column, rows[key][column], value)

    curve = {r["eps"]: r for r in _table_with(tables, "eps")}
    for model, metrics in (("baseline", pgd_b), ("student", pgd_s)):
        assert {eps: curve[model][eps] for eps in metrics["curve"]} == {
            eps: f4(v) for eps, v in metrics["curve"].items()}

    models = {r["model"]: r for r in _table_with(tables, "test accuracy")}
    for role in ("baseline", "teacher", "student"):
        assert models[role]["test accuracy"] == f4(m[f"train_{role}"]["test_accuracy"])
        assert models[role]["macro F1"] == f4(m[f"train_{role}"]["macro_f1"])

    lipschitz = {r["model"]: r for r in _table_with(tables, "local estimate (largest "
                                                    "margin-gradient norm)")}
    for model in ("baseline", "student"):
        values = m["evaluate"]["models"][model]
        assert lipschitz[model]["upper bound (product of layer norms)"] == \
            f"{values['lipschitz_upper_bound']:.3g}"
        assert values["lipschitz_upper_bound"] >= values["local_lipschitz"] > 0

    detector = {r["on the test split"]: r for r in _table_with(tables, "clean false positives")}
    assert detector["ROC-AUC"]["PGD"] == f4(sq["roc_auc"]["pgd"])
    calibrated = detector[f"detected at the calibrated threshold {sq['threshold']:.3f}"]
    assert calibrated["clean false positives"] == f4(sq["clean_false_positive_rate"])
