"""End to end: the DVC pipeline in a temporary git repository with tiny parameters."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from modelrobustness.pipeline.artifacts.metrics import TIMING_KEYS

from helpers.pipeline_repo import env, output_snapshot, run
from helpers.report_checks import assert_report_matches_metrics
from params_docs import downstream, expanded_stages, readers

DOWNLOAD_KEYS = {"images", "classes", "skipped", "skipped_by_reason"}
SPLIT_KEYS = {"train", "val", "test", "duplicates_removed"}
TRAIN_KEYS = {"test_accuracy", "val_accuracy", "macro_f1", "epochs"}
PGD_KEYS = {
    "clean_accuracy",
    "robust_accuracy",
    "attack_success_rate",
    "samples",
    "robust_accuracy_by_attack",
    "fooled_by",
    "mean_linf",
    "max_linf",
    "mean_l2",
    "max_l2",
}
AUTOATTACK_KEYS = {
    "clean_accuracy",
    "robust_accuracy",
    "robust_accuracy_by_attack",
    "fooled_by",
    "attacks",
    "masking_evidence",
    "samples",
    "eps",
    "version",
}
DDN_KEYS = {
    "clean_accuracy",
    "attack_success_rate",
    "median_l2",
    "mean_l2",
    "samples",
    "mean_linf",
    "max_linf",
    "max_l2",
}
SQUEEZE_KEYS = {
    "threshold",
    "clean_false_positive_rate",
    "roc_auc",
    "detection_rate",
    "fixed_threshold",
    "adaptive",
    "selected_squeezers",
}
# the timing keys of each record, in metrics/timing/ (git-ignored)
TIMING = {
    "train_baseline": {"train_seconds", "images_per_second"},
    "attack_pgd_baseline": {"seconds", "attack_seconds", "images_per_second"},
    "attack_autoattack_student": {"seconds", "attack_seconds", "seconds_by_attack"},
    "attack_ddn_baseline": {"seconds", "images_per_second"},
    "squeeze_detect": {"seconds"},
    "evaluate": {"seconds"},
}
DETAILS = {
    "download_classes": "class,images",
    "split_classes": "class,train,val,test",
    "train_baseline_classes": "class,precision,recall,f1,support",
    "squeeze_detect_subsets": "squeezers,detection_rate",
    "squeeze_detect_squeezers": "squeezer,clean_accuracy",
}
ATTACKED = ("baseline", "student", "adversarial")
STAGES = (
    "download",
    "split",
    "train_baseline",
    "train_teacher",
    "train_student",
    "train_adversarial",
    *(f"attack@{m}" for m in ATTACKED),
    "squeeze_detect",
    "evaluate",
)
METRICS = (
    "download",
    "split",
    "train_baseline",
    "train_teacher",
    "train_student",
    "train_adversarial",
    *(f"attack_{a}_{m}" for a in ("pgd", "autoattack", "ddn") for m in ATTACKED),
    "squeeze_detect",
    "evaluate",
)
ADVERSARIAL_KEYS = {
    "method",
    "eps",
    "alpha",
    "val_robust_accuracy",
    "val_fgsm_accuracy",
    "test_robust_accuracy",
    "catastrophic_overfitting",
    "collapsed_epochs",
    "robust_overfitting_drop",
    "selected_by",
}
REPORT_FILES = (
    "robustness.md",
    "figures/robustness_curves.png",
    "figures/roc.png",
    "figures/confusion_matrices.png",
    "figures/detector_scores.png",
    "figures/examples_pgd_baseline.png",
    "figures/examples_ddn_student.png",
)


@pytest.mark.e2e
def test_pipeline_end_to_end(tiny_pipeline: tuple[Path, str]):
    repo, out = tiny_pipeline
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out

    metrics = {
        name: json.loads((repo / "metrics" / f"{name}.json").read_text()) for name in METRICS
    }
    assert DOWNLOAD_KEYS <= set(metrics["download"])
    assert metrics["download"]["images"] == 10_000 and metrics["download"]["skipped"] == 0
    assert SPLIT_KEYS <= set(metrics["split"])
    assert metrics["split"]["train"] + metrics["split"]["val"] + metrics["split"]["test"] == 400
    # no timing key in a git-tracked record: each stage's are in metrics/timing/
    for name, values in metrics.items():
        assert not set(values) & set(TIMING_KEYS), name
    for name, keys in TIMING.items():
        assert set(json.loads((repo / f"metrics/timing/{name}.json").read_text())) == keys
    # per-class counts and per-subset tables are detail files, not metrics
    for name, header in DETAILS.items():
        lines = (repo / f"metrics/{name}.csv").read_text().splitlines()
        assert lines[0] == header and len(lines) > 1, name
    # the selection ran on images PGD fooled: one row per non-empty subset of the squeezers
    squeezers = metrics["squeeze_detect"]["squeezers"]
    subsets = (repo / "metrics/squeeze_detect_subsets.csv").read_text().splitlines()
    assert len(subsets) - 1 == 2 ** len(squeezers) - 1
    for role in ("baseline", "teacher", "student", "adversarial"):
        assert TRAIN_KEYS <= set(metrics[f"train_{role}"])
        for key in ("test_accuracy", "val_accuracy", "macro_f1"):
            assert 0.0 <= metrics[f"train_{role}"][key] <= 1.0
    assert "teacher_agreement" in metrics["train_student"]
    adversarial = metrics["train_adversarial"]
    assert ADVERSARIAL_KEYS <= set(adversarial)
    assert adversarial["method"] == "fgsm_rs" and adversarial["eps"] == 0.1
    # the default fine-tunes the baseline, for train.epochs (adversarial.epochs: null)
    assert adversarial["init"] == "baseline" and adversarial["epochs"] == 3
    assert 0.0 <= adversarial["test_robust_accuracy"] <= adversarial["test_subset_accuracy"]
    curves = repo / "plots/train_adversarial/plots/metrics"
    for name in ("val_robust_accuracy", "val_fgsm_accuracy", "val_accuracy"):
        assert len((curves / f"{name}.tsv").read_text().splitlines()) == 4, name  # 3 epochs
    squeeze = metrics["squeeze_detect"]
    assert SQUEEZE_KEYS <= set(squeeze)
    assert set(squeeze["detection_rate"]) == set(squeeze["roc_auc"]) == {"pgd", "ddn"}
    assert {"threshold", "clean_false_positive_rate", "detection_rate"} <= set(
        squeeze["fixed_threshold"]
    )
    assert 0.0 <= squeeze["threshold"] <= 2.0
    pgd_metrics, ddn_metrics = metrics["attack_pgd_baseline"], metrics["attack_ddn_baseline"]
    aa_metrics = metrics["attack_autoattack_baseline"]
    assert PGD_KEYS <= set(pgd_metrics) and DDN_KEYS <= set(ddn_metrics)
    assert AUTOATTACK_KEYS <= set(aa_metrics)
    assert pgd_metrics["samples"] == ddn_metrics["samples"] == aa_metrics["samples"] == 20
    assert pgd_metrics["attacks"] == ["pgd_ce", "pgd_margin"]
    assert set(pgd_metrics["robust_accuracy_by_attack"]) == {"pgd_ce", "pgd_margin"}
    assert pgd_metrics["robust_accuracy"] == pgd_metrics["robust_accuracy_by_attack"]["pgd_margin"]
    assert aa_metrics["attacks"] == ["apgd_ce", "apgd_t", "square"]
    assert aa_metrics["eps"] == pgd_metrics["eps"]  # attack.autoattack.eps: null
    for m in (pgd_metrics, ddn_metrics):
        for key in ("clean_accuracy", "attack_success_rate"):
            assert 0.0 <= m[key] <= 1.0
    assert (repo / "models" / "baseline.pt").is_file()
    assert (repo / "plots/train_baseline/plots/metrics/val_accuracy.tsv").is_file()
    assert (repo / "plots/train_baseline/plots/sklearn/confusion_matrix.json").is_file()
    assert (repo / "metrics" / "download_skipped.csv").read_text().startswith("path,reason")
    attacks = (
        ("pgd", "robustness_curve.csv"),
        ("ddn", "accuracy_vs_l2.csv"),
        ("autoattack", "robust_accuracy_by_attack.csv"),
    )
    for (attack, curve), model in itertools.product(attacks, ATTACKED):
        folder = repo / f"plots/attack_{attack}_{model}"
        assert (folder / "examples.png").read_bytes().startswith(b"\x89PNG")
        assert len((folder / curve).read_text().splitlines()) > 2
        saved = torch.load(repo / f"data/adversarial/{attack}_{model}.pt", weights_only=True)
        assert saved["x_adv"].shape[0] == 20 and saved["success"].dtype == torch.bool

    # the evaluate stage: summary, report and figures, numbers equal to the metrics files
    assert_report_matches_metrics((repo / "reports/robustness.md").read_text(), repo)
    for name in REPORT_FILES[1:]:
        assert (repo / "reports" / name).read_bytes().startswith(b"\x89PNG"), name
    summary = json.loads((repo / "reports/summary.json").read_text())
    assert set(summary["robustness"]) == set(ATTACKED)
    assert summary["models"]["baseline"]["lipschitz_upper_bound"] > 0
    for model, defense in (
        ("baseline", "none"),
        ("student", "distillation"),
        ("adversarial", "adversarial_training"),
    ):
        row = summary["robustness"][model][defense]
        # the worst case over every attack is at most each stage's own
        assert (
            row["worst_case"]
            <= min(row["pgd"]["robust_accuracy"], row["autoattack"]["robust_accuracy"]) + 1e-12
        )
        low, high = row["worst_case_ci"]
        assert low <= row["worst_case"] <= high
        assert metrics["evaluate"]["robust_accuracy"][model] == row["worst_case"]
        assert metrics["evaluate"]["gradient_masking"][model] == row["gradient_masking"]

    # a second repro does nothing
    again = run(repo, "dvc", "repro")
    assert "Running stage" not in again and "Data and pipelines are up to date" in again

    # the run's outputs committed, as a user would; that two runs with the same params write
    # the same bytes is test_two_runs_from_scratch_write_the_same_bytes
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    assert not run(repo, "git", "status", "--porcelain").strip()

    # a bad parameter stops the first stage that reads it before it writes anything, with
    # one message; DVC keeps every output in place (persist), so nothing is lost
    params_text = (repo / "params.yaml").read_text()
    model = (repo / "models/baseline.pt").read_bytes()
    bad = yaml.safe_load(params_text)
    bad["train"]["epochs"] = 0
    (repo / "params.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    failed = subprocess.run(
        ["dvc", "repro"], cwd=repo, env=env(), capture_output=True, text=True, check=False
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "error: parameter train.epochs is 0; expected an integer >= 1" in output, output
    assert "Traceback" not in output
    assert (repo / "models/baseline.pt").read_bytes() == model
    (repo / "params.yaml").write_text(params_text)
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status")

    # a changed detector parameter reruns the detector and the report only, as the table
    # generated from dvc.yaml says (docs/parameters.md)
    stages = expanded_stages(yaml.safe_load((repo / "dvc.yaml").read_text()))
    expected = downstream(stages, readers(stages, "squeeze.fpr"))
    assert expected == {"squeeze_detect", "evaluate"}
    exp = run(repo, "dvc", "exp", "run", "-S", "squeeze.fpr=0.1")
    ran = {name for name in stages if f"Running stage '{name}'" in exp}
    assert ran == expected, ran
    # the one declared metrics file is the report's headline: only the detector's numbers move
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "--json"))
    assert list(diff) == ["metrics/evaluate.json"]
    assert "detector.threshold" in diff["metrics/evaluate.json"]
    assert all(k.startswith("detector.") for k in diff["metrics/evaluate.json"]), diff
    record = json.loads(
        run(repo, "dvc", "metrics", "diff", "--json", "--targets", "metrics/squeeze_detect.json")
    )  # any record, on demand
    assert record["metrics/squeeze_detect.json"]["fpr"] == {"old": 0.05, "new": 0.1, "diff": 0.05}
    header = run(repo, "dvc", "exp", "show", "--csv").splitlines()[0].split(",")
    assert "squeeze.fpr" in header
    dep_paths = {d for s in stages.values() for d in s["deps"]}
    bookkeeping = {"Experiment", "rev", "typ", "Created", "parent"}
    columns = [c for c in header if c not in dep_paths and c not in bookkeeping]
    # the table DVC shows: Experiment, Created, every parameter and the headline metrics
    # (and one hash column per dependency file, which DVC always adds); no stage record
    # leaks into it. 85 columns on the defaults since issue 14's run options (train.nproc,
    # .loader_workers, .gpu.*, deterministic): docs/metrics.md shows `--only-changed`
    parameters = set(_leaves(yaml.safe_load((repo / "params.yaml").read_text())))
    headline = json.loads((repo / "metrics/evaluate.json").read_text())
    shown = {key for key, value in _leaves(headline, values=True) if value is not None}
    assert set(columns) == parameters | shown, set(columns) ^ (parameters | shown)

    # dvc plots show renders the training curves and the confusion matrix
    html_out = run(repo, "dvc", "plots", "show", "-o", "plots_html")
    assert "WARNING" not in html_out, html_out
    page = (repo / "plots_html" / "index.html").read_text()
    # the offline template (.dvc/config plots.html_template): vega inlined, no CDN
    assert "cdn.jsdelivr" not in page and "vegaEmbed" in page
    for plot_id in (
        "Training_curves",
        "Accuracy",
        "Confusion_matrix",
        "PGD_robustness_curve",
        "DDN_accuracy_under_an_L2_budget",
        "Feature_squeezing_ROC",
        "AutoAttack_robust_accuracy_after_each_attack",
    ):
        assert f"#{plot_id}" in page


def _leaves(mapping: dict, prefix: str = "", *, values: bool = False):
    """The dotted keys of a nested mapping's leaves (an empty mapping has none), with their
    values when asked."""
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.", values=values)
        else:
            yield (prefix + key, value) if values else prefix + key


@pytest.mark.e2e
def test_two_runs_from_scratch_write_the_same_bytes(tiny_pipelines) -> None:
    """Same params, same machine, two repos run from scratch: every metrics file, plot data
    file, figure and report byte-identical (timing keys aside: metrics/timing/)."""
    first, second = tiny_pipelines.snapshots
    assert sorted(first) == sorted(second)
    assert any(name.endswith(".png") for name in first)  # the figures are compared too
    assert any(name.startswith("plots/train_") for name in first)  # and DVCLive's curves
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"differ between two runs from scratch: {differ}"


@pytest.mark.e2e
def test_a_fresh_clone_pulls_the_outputs_from_a_remote_and_runs_nothing(
    tiny_pipelines, tmp_path
) -> None:
    """Sharing results through a DVC remote (docs/scaling.md): the run committed with its
    dvc.lock, `dvc push --run-cache` to a local-directory remote, a fresh `git clone`,
    `dvc pull --run-cache`, and `dvc repro` has nothing to run: every stage is up to date
    and every output is the pushed one."""
    repo = tiny_pipelines.second
    remote = tmp_path / "remote"
    run(repo, "dvc", "remote", "add", "--default", "shared", str(remote))
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "a run, its lock and the remote")
    pushed = run(repo, "dvc", "push", "--run-cache")
    assert "pushed" in pushed, pushed
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "models").exists()  # DVC's outputs are not in git
    run(clone, "dvc", "pull", "--run-cache")
    again = run(clone, "dvc", "repro")
    assert "Running stage" not in again and "Data and pipelines are up to date" in again, again
    assert output_snapshot(clone) == output_snapshot(repo)
    for tracked in ("models/baseline.pt", "models/adversarial.pt", "data/prepared/test_x.npy"):
        assert (clone / tracked).read_bytes() == (repo / tracked).read_bytes(), tracked
    assert not run(clone, "git", "status", "--porcelain").strip()
    # DVC's run-cache holds nothing for these stages: DVC 3 leaves out a stage with an
    # output it does not cache (the records and plot data, kept in git) or that persists
    # (dvc/stage/__init__.py, dvc/stage/cache.py), so sharing goes by dvc.lock in git and
    # the outputs in the remote, as above. Should that change, docs/scaling.md must too.
    assert not (repo / ".dvc/cache/runs").exists()
