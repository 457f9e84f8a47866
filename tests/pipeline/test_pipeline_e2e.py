"""End to end: the DVC pipeline in a temporary git repository with tiny parameters."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from helpers.pipeline_repo import run
from helpers.report_checks import assert_report_matches_metrics

TIMING_KEYS = {"seconds", "images_per_second", "train_seconds", "attack_seconds"}

DOWNLOAD_KEYS = {"images", "classes", "skipped", "skipped_by_reason"}
SPLIT_KEYS = {"train", "val", "test", "duplicates_removed"}
TRAIN_KEYS = {"test_accuracy", "val_accuracy", "macro_f1", "epochs", "train_seconds",
              "images_per_second", "per_class_f1"}
PGD_KEYS = {"clean_accuracy", "robust_accuracy", "attack_success_rate", "samples", "seconds",
            "images_per_second", "by_loss", "mean_linf", "max_linf", "mean_l2", "max_l2"}
DDN_KEYS = {"clean_accuracy", "attack_success_rate", "median_l2", "mean_l2", "samples",
            "seconds", "images_per_second", "mean_linf", "max_linf", "max_l2"}
SQUEEZE_KEYS = {"threshold", "clean_false_positive_rate", "roc_auc", "detection_rate",
                "fixed_threshold", "squeezed_accuracy", "adaptive", "selected_squeezers"}
STAGES = ("download", "split", "train_baseline", "train_teacher", "train_student",
          "attack_pgd@baseline", "attack_ddn@baseline", "attack_pgd@student",
          "attack_ddn@student", "squeeze_detect", "evaluate")
METRICS = ("download", "split", "train_baseline", "train_teacher", "train_student",
           "attack_pgd_baseline", "attack_ddn_baseline", "attack_pgd_student",
           "attack_ddn_student", "squeeze_detect", "evaluate")
REPORT_FILES = ("robustness.md", "figures/robustness_curves.png", "figures/roc.png",
                "figures/confusion_matrices.png", "figures/detector_scores.png",
                "figures/examples_pgd_baseline.png", "figures/examples_ddn_student.png")


def _without_timing(obj):
    if isinstance(obj, dict):
        return {k: _without_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    return obj


@pytest.mark.e2e
def test_pipeline_end_to_end(tiny_pipeline: tuple[Path, str]):
    repo, out = tiny_pipeline
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out

    metrics = {name: json.loads((repo / "metrics" / f"{name}.json").read_text())
               for name in METRICS}
    assert DOWNLOAD_KEYS <= set(metrics["download"])
    assert metrics["download"]["images"] == 10_000 and metrics["download"]["skipped"] == 0
    assert SPLIT_KEYS <= set(metrics["split"])
    assert metrics["split"]["train"] + metrics["split"]["val"] + metrics["split"]["test"] == 400
    for role in ("baseline", "teacher", "student"):
        assert TRAIN_KEYS <= set(metrics[f"train_{role}"])
        for key in ("test_accuracy", "val_accuracy", "macro_f1"):
            assert 0.0 <= metrics[f"train_{role}"][key] <= 1.0
    assert "teacher_agreement" in metrics["train_student"]
    squeeze = metrics["squeeze_detect"]
    assert SQUEEZE_KEYS <= set(squeeze)
    assert set(squeeze["detection_rate"]) == set(squeeze["roc_auc"]) == {"pgd", "ddn"}
    assert {"threshold", "clean_false_positive_rate", "detection_rate"} <= set(
        squeeze["fixed_threshold"])
    assert 0.0 <= squeeze["threshold"] <= 2.0
    assert isinstance(metrics["attack_pgd_student"]["gradient_masking"], bool)
    pgd_metrics, ddn_metrics = metrics["attack_pgd_baseline"], metrics["attack_ddn_baseline"]
    assert PGD_KEYS <= set(pgd_metrics) and DDN_KEYS <= set(ddn_metrics)
    assert pgd_metrics["samples"] == ddn_metrics["samples"] == 20
    assert set(pgd_metrics["by_loss"]) == {"ce", "margin"}
    assert pgd_metrics["robust_accuracy"] == min(pgd_metrics["by_loss"].values())
    for m in (pgd_metrics, ddn_metrics):
        for key in ("clean_accuracy", "attack_success_rate"):
            assert 0.0 <= m[key] <= 1.0
    assert (repo / "models" / "baseline.pt").is_file()
    assert (repo / "plots/train_baseline/plots/metrics/val_accuracy.tsv").is_file()
    assert (repo / "plots/train_baseline/plots/sklearn/confusion_matrix.json").is_file()
    assert (repo / "metrics" / "download_skipped.csv").read_text().startswith("path,reason")
    attacks = (("pgd", "robustness_curve.csv"), ("ddn", "accuracy_vs_l2.csv"))
    for (attack, curve), model in itertools.product(attacks, ("baseline", "student")):
        folder = repo / f"plots/attack_{attack}_{model}"
        assert (folder / "examples.png").read_bytes().startswith(b"\x89PNG")
        assert len((folder / curve).read_text().splitlines()) > 2
        saved = torch.load(repo / f"data/adversarial/{attack}_{model}.pt", weights_only=True)
        assert saved["x_adv"].shape[0] == 20 and saved["success"].dtype == torch.bool

    # the evaluate stage: summary, report and figures, numbers equal to the metrics files
    assert_report_matches_metrics((repo / "reports/robustness.md").read_text(),
                                  repo / "metrics")
    for name in REPORT_FILES[1:]:
        assert (repo / "reports" / name).read_bytes().startswith(b"\x89PNG"), name
    evaluate = metrics["evaluate"]
    assert set(evaluate["robustness"]) == {"baseline", "student"}
    assert evaluate["models"]["baseline"]["lipschitz_upper_bound"] > 0

    # a second repro does nothing
    again = run(repo, "dvc", "repro")
    assert "Running stage" not in again
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status")

    # same params, same machine: identical metrics (timing keys aside), plots and examples
    before = {name: (repo / "metrics" / f"{name}.json").read_text() for name in METRICS}
    curves = (repo / "plots/train_baseline/plots/metrics/train_loss.tsv").read_text()
    grid = (repo / "plots/attack_pgd_baseline/examples.png").read_bytes()
    report = {name: (repo / "reports" / name).read_bytes() for name in REPORT_FILES}
    # (training, one attack and the report, each in a new process: the other stages' own
    # determinism is checked in-process by their unit tests)
    forced = run(repo, "dvc", "repro", "--force", "--single-item", "train_baseline",
                 "attack_pgd@baseline", "evaluate")
    for stage in ("train_baseline", "attack_pgd@baseline", "evaluate"):
        assert f"Running stage '{stage}'" in forced
    for name in METRICS:
        after = (repo / "metrics" / f"{name}.json").read_text()
        assert _without_timing(json.loads(after)) == _without_timing(json.loads(before[name]))
    assert (repo / "plots/train_baseline/plots/metrics/train_loss.tsv").read_text() == curves
    assert (repo / "plots/attack_pgd_baseline/examples.png").read_bytes() == grid
    for name, content in report.items():
        assert (repo / "reports" / name).read_bytes() == content, name

    # a changed distillation parameter reruns the distillation branch and the report only
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    exp = run(repo, "dvc", "exp", "run", "-S", "distill.temperature=10")
    for stage in ("train_teacher", "train_student", "attack_pgd@student", "attack_ddn@student",
                  "evaluate"):
        assert f"Running stage '{stage}'" in exp
    for stage in ("download", "split", "train_baseline", "attack_pgd@baseline",
                  "attack_ddn@baseline", "squeeze_detect"):
        assert f"Running stage '{stage}'" not in exp
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "--json"))
    assert diff["metrics/train_student.json"]["temperature"] == {"old": 20.0, "new": 10.0,
                                                                 "diff": -10.0}
    assert "metrics/train_baseline.json" not in diff
    assert diff["metrics/evaluate.json"]["models.student.temperature"]["new"] == 10.0
    table = run(repo, "dvc", "exp", "show", "--csv")
    assert "distill.temperature" in table.splitlines()[0]

    # dvc plots show renders the training curves and the confusion matrix
    html_out = run(repo, "dvc", "plots", "show", "-o", "plots_html")
    assert "WARNING" not in html_out, html_out
    page = (repo / "plots_html" / "index.html").read_text()
    # the offline template (.dvc/config plots.html_template): vega inlined, no CDN
    assert "cdn.jsdelivr" not in page and "vegaEmbed" in page
    for plot_id in ("Training_curves", "Accuracy", "Confusion_matrix", "PGD_robustness_curve",
                    "DDN_accuracy_under_an_L2_budget", "Feature_squeezing_ROC"):
        assert f"#{plot_id}" in page
