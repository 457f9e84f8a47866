"""The committed report and README say what the committed metrics say; the offline plots
template renders without network; single-image helpers keep the attack's budget."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from modelrobustness.cli.images import png_bytes, quantize_within
from modelrobustness.cli.report import readme_figures
from modelrobustness.pipeline.evaluate import STAGE_METRICS, pgd_curves, report_data
from modelrobustness.pipeline.paths import ProjectPaths
from modelrobustness.reporting.markdown import results_section, splice_results
from modelrobustness.reporting.summary import (
    ATTACKED_MODELS,
    CLASSIFIERS,
    build_summary,
    headline,
)
from modelrobustness.reporting.writer import write_report

from helpers.report_checks import assert_report_matches_metrics, markdown_tables, table_with

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "plots_offline.html"


def test_committed_report_matches_committed_metrics():
    assert_report_matches_metrics((ROOT / "reports/robustness.md").read_text(), ROOT)


def test_committed_headline_is_the_summarys():
    summary = json.loads((ROOT / "reports/summary.json").read_text())
    assert json.loads((ROOT / "metrics/evaluate.json").read_text()) == headline(summary)


def test_readme_results_section_is_the_reports():
    readme = (ROOT / "README.md").read_text()
    section = results_section((ROOT / "reports/robustness.md").read_text())
    assert splice_results(readme, section, figures_to=readme_figures(ProjectPaths())) == readme, (
        "README's results section differs from reports/robustness.md: run "
        "`python -m modelrobustness report --readme README.md`"
    )
    for link in re.findall(r"\]\((reports/figures/[^)]+)\)", results_section(readme)):
        assert (ROOT / link).is_file(), link


def test_report_of_a_degenerate_run_says_not_measured(tmp_path):
    """Nothing found by DDN on the student, no DDN examples for the detector, nothing fooled
    by the adaptive attack: those cells read "–", the figures are still drawn, and every
    other number still matches the metrics files."""
    metrics = {p.stem: json.loads(p.read_text()) for p in (ROOT / "metrics").glob("*.json")}
    ddn = metrics["attack_ddn_student"]
    ddn.update(median_l2=None, attack_success_rate=0.0, robust_accuracy=ddn["clean_accuracy"])
    squeeze = metrics["squeeze_detect"]
    squeeze["detection_rate"]["ddn"] = squeeze["roc_auc"]["ddn"] = None
    squeeze["fixed_threshold"]["detection_rate"]["ddn"] = None
    squeeze["adaptive"]["adaptive"].update(
        misclassified_rate=0.0, detection_rate=None, undetected_success_rate=0.0
    )
    plots = tmp_path / "plots"
    shutil.copytree(ROOT / "plots", plots)
    (plots / "squeeze_detect" / "roc_ddn.csv").unlink()
    (plots / "attack_ddn_student" / "accuracy_vs_l2.csv").write_text("l2,accuracy\n0.0,0.9\n")
    stage = {name: metrics[name] for name in STAGE_METRICS}
    lipschitz = {
        m: {"lipschitz_upper_bound": 10.0, "local_lipschitz": 1.0} for m in ATTACKED_MODELS
    }
    paths = ProjectPaths(tmp_path)
    class_names = (ROOT / "metrics/train_baseline_classes.csv").read_text().split()[1:]
    paths.prepared.mkdir(parents=True)
    (paths.prepared / "classes.json").write_text(
        json.dumps([line.split(",")[0] for line in class_names])
    )
    data = report_data(paths)
    committed = json.loads((ROOT / "reports/summary.json").read_text())["robustness"]
    combined = {
        m: {
            "samples": metrics[f"attack_pgd_{m}"]["samples"],
            **{k: committed[m][d][k] for k in ("worst_case", "checks", "gradient_masking")},
        }
        for m, d, _ in CLASSIFIERS
    }
    summary = build_summary(stage, lipschitz, pgd_curves(data.pgd_curves), combined)
    metrics["evaluate"] = headline(summary)
    out = tmp_path / "metrics"
    out.mkdir()
    for name, values in metrics.items():
        (out / f"{name}.json").write_text(json.dumps(values))
    write_report(
        summary, data, out_dir=paths.reports, extra_files={paths.summary.name: json.dumps(summary)}
    )
    report = (tmp_path / "reports" / "robustness.md").read_text()
    assert_report_matches_metrics(report, tmp_path)
    rows = {
        (r["model"], r["defense"], r["attack"]): r
        for r in table_with(markdown_tables(report), "fooled and undetected")
    }
    assert rows[("student", "distillation", "DDN")]["DDN median L2"] == "–"
    assert rows[("baseline", "feature squeezing", "DDN")]["detected"] == "–"
    assert rows[("baseline", "feature squeezing", "adaptive PGD (BPDA)")]["detected"] == "–"
    assert metrics["evaluate"]["median_l2"]["student"] is None
    for name in ("robustness_curves.png", "roc.png", "confusion_matrices.png"):
        assert (tmp_path / "reports" / "figures" / name).read_bytes().startswith(b"\x89PNG")


def test_splice_needs_the_markers():
    with pytest.raises(ValueError, match="no results section"):
        splice_results("# README without markers\n", "section", figures_to="reports/figures")


def test_offline_template_is_configured_and_loads_nothing_from_the_network():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    configured = (ROOT / ".dvc" / config["plots"]["html_template"]).resolve()
    assert configured == TEMPLATE.resolve()
    page = TEMPLATE.read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN tags never go in
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    for package in ("vega@5.20.2", "vega-lite@5.2.0", "vega-embed@6.18.2"):
        assert package in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_offline_template_renders_a_chart_in_headless_chromium(tmp_path):
    from dvc_render import VegaRenderer, render_html

    points = [
        {"x": i, "y": i * i, "rev": "workspace", "filename": "a.csv", "field": "y"}
        for i in range(5)
    ]
    renderer = VegaRenderer(
        points,
        "squares",
        template="linear",
        x="x",
        y="y",
        anchors_y_definitions=[{"filename": "a.csv", "field": "y"}],
        revs_with_datapoints=["workspace"],
    )
    page = tmp_path / "index.html"
    render_html([renderer], page, html_template=str(TEMPLATE))
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'role="graphics-document"' in dom  # vega-embed drew the chart


def test_quantize_within_keeps_the_budget_and_the_grid():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 1, 8, 8), generator=generator).float() / 255
    eps = 0.03
    x_adv = (x + (torch.rand(x.shape, generator=generator) * 2 - 1) * eps).clamp(0, 1)
    q = quantize_within(x_adv, x, linf_budget=eps)
    assert float((q - x).abs().max()) <= eps + 1e-7
    assert torch.equal(q * 255, torch.round(q * 255)) and q.min() >= 0 and q.max() <= 1
    # plain rounding would have left the ball somewhere: the clamp is doing work
    assert float((torch.round(x_adv * 255) / 255 - x).abs().max()) > eps


def test_quantize_without_linf_budget_never_moves_a_pixel_further():
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, 3, 8, 8), generator=generator).float() / 255
    x_adv = (x + torch.randn(x.shape, generator=generator) * 0.05).clamp(0, 1)
    q = quantize_within(x_adv, x, linf_budget=None)
    assert torch.equal(q * 255, torch.round(q * 255)) and q.min() >= 0 and q.max() <= 1
    assert bool(((q - x).abs() <= (x_adv - x).abs() + 1e-5).all())  # so every Lp norm too
    on_grid = torch.round(x_adv * 255) / 255  # DDN's output is on the grid: kept as it is
    assert torch.equal(quantize_within(on_grid, x, linf_budget=None), on_grid)


def test_png_bytes_round_trip():
    from io import BytesIO

    import numpy as np
    from PIL import Image

    x = torch.randint(0, 256, (1, 3, 5, 7)).float() / 255
    image = Image.open(BytesIO(png_bytes(x)))
    assert image.mode == "RGB" and image.size == (7, 5)
    assert np.array_equal(np.asarray(image).transpose(2, 0, 1), (x[0] * 255).round().numpy())


def test_wilson_interval_known_values():
    from modelrobustness.utils.stats import wilson_interval

    # Wilson 1927 / Newcombe 1998 by hand: 18 of 300, 0 of 300, 150 of 300
    low, high = wilson_interval(18, 300)
    assert (round(low, 4), round(high, 4)) == (0.0383, 0.0928)
    low, high = wilson_interval(0, 300)
    assert low == 0.0 and round(high, 4) == 0.0126
    low, high = wilson_interval(150, 300)
    assert round(high - 0.5, 4) == round(0.5 - low, 4) == 0.0562
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_scipy(confidence: float):
    from scipy.stats import binomtest

    from modelrobustness.utils.stats import wilson_interval

    for n in (1, 2, 7, 150, 300, 2430):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
            low, high = wilson_interval(k, n, confidence=confidence)
            assert low == pytest.approx(ci.low, abs=1e-12), (k, n)
            assert high == pytest.approx(ci.high, abs=1e-12), (k, n)


def test_confusion_matrix_equals_sklearns_and_refuses_foreign_labels():
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    from modelrobustness.utils.stats import confusion_matrix

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300)  # class 4 never occurs
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 5, 300))
    ours = confusion_matrix(y_true, y_pred, classes=5)
    assert ours.dtype == np.int64
    assert (ours == sklearn_confusion(y_true, y_pred, labels=range(5))).all()
    assert confusion_matrix([], [], classes=3).tolist() == [[0] * 3] * 3
    with pytest.raises(ValueError, match="outside the 5 classes"):
        confusion_matrix([0, 5], [0, 1], classes=5)
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1], classes=5)
