"""The text of ``reports/robustness.md``, made from the summary (``metrics/evaluate.json``):
every number in it is formatted from the summary. (``figures`` draws the figures and
``writer`` writes the folder; this module imports nothing heavy, so the command line stays quick.)

The part between :data:`RESULTS_BEGIN` and :data:`RESULTS_END` is the "Results" section
that ``python -m modelrobustness report --readme README.md`` copies into the README.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .summary import ATTACKED_MODELS, summary_rows

RESULTS_BEGIN = "<!-- results:begin (generated from reports/robustness.md; do not edit) -->"
RESULTS_END = "<!-- results:end -->"
FIGURES = "figures"
DASH = "–"


def fmt_fraction(value: float | None) -> str:
    """Accuracies and rates: four decimals."""
    return DASH if value is None else f"{value:.4f}"


def fmt_norm(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def fmt_large(value: float | None) -> str:
    """Lipschitz constants: three significant digits."""
    return DASH if value is None else f"{value:.3g}"


def fmt_flag(value: bool | None) -> str:
    return DASH if value is None else ("**yes**" if value else "no")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
                   align: str) -> str:
    """A GitHub markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


CLEAN_ATTACKED = "clean acc. (attacked images)"
SUMMARY_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("model", "model", str),
    ("defense", "defense", str),
    ("attack", "attack", str),
    (CLEAN_ATTACKED, "clean_accuracy", fmt_fraction),
    ("robust acc.", "robust_accuracy", fmt_fraction),
    ("attack success", "attack_success_rate", fmt_fraction),
    ("DDN median L2", "median_l2", fmt_norm),
    ("detected", "detection_rate", fmt_fraction),
    ("fooled and undetected", "undetected_success_rate", fmt_fraction),
    ("gradient masking", "gradient_masking", fmt_flag),
)


def summary_table(summary: dict[str, Any]) -> str:
    """The model x defense x attack table (the CLI's ``report`` prints it too)."""
    rows = [[fmt(row.get(key)) for _, key, fmt in SUMMARY_COLUMNS]
            for row in summary_rows(summary)]
    return markdown_table([c[0] for c in SUMMARY_COLUMNS], rows, align="lll" + "r" * 6 + "l")


def curve_table(summary: dict[str, Any]) -> str:
    curves = summary["pgd"]["curve"]
    eps = sorted(curves["baseline"], key=float)
    rows = [[model, *(fmt_fraction(curves[model].get(e)) for e in eps)]
            for model in ATTACKED_MODELS]
    return markdown_table(["eps", *eps], rows, align="l" + "r" * len(eps))


def lipschitz_table(summary: dict[str, Any]) -> str:
    rows = [[model, fmt_large(summary["models"][model]["lipschitz_upper_bound"]),
             fmt_large(summary["models"][model]["local_lipschitz"])]
            for model in ATTACKED_MODELS]
    return markdown_table(["model", "upper bound: product of layer norms",
                           "local estimate: largest margin-gradient norm"], rows, align="lrr")


def models_table(summary: dict[str, Any]) -> str:
    models, test = summary["models"], summary["setup"]["data"]["test"]
    rows = [[role, fmt_fraction(models[role]["test_accuracy"]),
             fmt_fraction(models[role]["macro_f1"])] for role in models]
    return markdown_table(["model", f"test accuracy (all {test} test images)", "macro F1"],
                          rows, align="lrr")


def detector_table(summary: dict[str, Any]) -> str:
    """Every attack on the detector side by side: the attack stages' adversarial examples
    and the detector stage's own PGD runs (plain and adaptive: the same images, budget and
    steps), each flagged at the calibrated threshold, and the clean false positives."""
    s = summary["squeezing"]
    attacks, fixed, steps = s["attacks"], s["fixed_threshold"], s["adaptive_steps"]
    calibrated = f"detected at {s['threshold']:.3f} (calibrated)"
    fixed_label = f"detected at {fixed['threshold']:.3f} (fixed)"
    labels = (
        ("pgd", "PGD examples of attack_pgd@baseline (each image's first successful loss)"),
        ("ddn", "DDN examples of attack_ddn@baseline (minimal L2)"),
        ("plain", f"PGD, plain: margin loss, all {steps} steps, ignores the detector"),
        ("plain_first_iterate", "PGD, plain, stopped at the first misclassified step"),
        ("adaptive", f"adaptive PGD: BPDA through the squeezers, {steps} steps"),
    )
    rows = []
    for key, label in labels:
        run = attacks[key]
        rows.append([label, DASH if run["examples"] is None else str(run["examples"]),
                     fmt_fraction(run["detection_rate"]),
                     fmt_fraction(run.get("fixed_detection_rate")),
                     fmt_fraction(run.get("roc_auc"))])
    rows.append([f"clean test images (all {summary['setup']['data']['test']}): false positives",
                 "", fmt_fraction(s["clean_false_positive_rate"]),
                 fmt_fraction(fixed["clean_false_positive_rate"]), ""])
    return markdown_table(["attack on the detector", "adversarial examples", calibrated,
                           fixed_label, "ROC-AUC"], rows, align="lrrrr")


def setup_table(summary: dict[str, Any]) -> str:
    """What made the results: data, models, attacks and how many images they attacked."""
    setup = summary["setup"]
    data, training, pgd = setup["data"], setup["training"], setup["pgd"]
    ddn, squeezing = setup["ddn"], setup["squeezing"]
    channels, height, width = data["image_shape"]
    color = "gray" if channels == 1 else "RGB"
    temperature = summary["models"]["student"]["temperature"]
    rows = [
        ["data", f"{data['source']}: {data['images']:,} images in {data['classes']} classes, "
                 f"resized to {width}x{height} {color}; split after de-duplication into "
                 f"{data['train']:,} train, {data['val']:,} validation, {data['test']:,} test"],
        ["models", f"{training['arch']} (width {training['width']}), {training['epochs']} "
                   f"epochs each: baseline, teacher and student (distilled at T = "
                   f"{temperature:g}, deployed at T = 1)"],
        ["PGD", f"{pgd['norm']} eps {pgd['eps']:g}, {pgd['steps']} steps, losses "
                f"{', '.join(pgd['losses'])}; the first {pgd['samples']} test images"],
        ["DDN", f"{ddn['steps']} steps; the first {ddn['samples']} test images"],
        ["detector", f"feature squeezing on the baseline ({' + '.join(squeezing['squeezers'])})"
                     f", threshold calibrated for a false-positive rate of "
                     f"{fmt_fraction(squeezing['fpr'])} on clean validation images; its own "
                     f"PGD runs: {squeezing['adaptive_steps']} steps on the "
                     f"{squeezing['adaptive_samples']} attacked images the baseline "
                     "classifies correctly"],
    ]
    return markdown_table(["setup", ""], rows, align="ll")


def _masking_sentence(summary: dict[str, Any]) -> str:
    row = summary["robustness"]["student"]["distillation"]["pgd"]
    by_loss = ", ".join(f"{loss} {fmt_fraction(v)}" for loss, v in row["by_loss"].items())
    if row["gradient_masking"] is None:
        verdict = "gradient masking not assessed (it needs both the ce and margin losses)"
    elif row["gradient_masking"]:
        verdict = ("flagged as **gradient masking**: the naive (ce) attack's robust accuracy "
                   "is at least 5 points above the margin loss's")
    else:
        verdict = "not flagged as gradient masking"
    return (f"Robust accuracy of the distilled student under PGD by loss: {by_loss}; "
            f"{verdict}.")


def results_markdown(summary: dict[str, Any], *, figures: str = FIGURES) -> str:
    """The report's results part (the README's "Results" section); image links relative to
    ``figures``."""
    pgd = summary["pgd"]
    return "\n".join([
        RESULTS_BEGIN,
        "",
        setup_table(summary),
        "",
        summary_table(summary),
        "",
        f"*{CLEAN_ATTACKED}*: share of the {pgd['samples']} attacked test images classified "
        "correctly (test accuracy on the whole split is under Models); *robust acc.*: share "
        "of the attacked images classified correctly both clean and under attack (the "
        "detector does not change the classifier's answer); *attack success*: share of the "
        "clean-correct images fooled; *detected*: share of the successful adversarial "
        "examples the detector flags; *fooled and undetected*: share of the clean-correct "
        "images fooled without being flagged; *DDN median L2*: median norm of DDN's minimal "
        "successful perturbations. PGD counts an image as robust only when it survives every "
        "loss (per-sample worst case). On the detector, *PGD (plain)* and *adaptive PGD* are "
        "one run each on the same images with the same budget and steps: the plain one "
        "ignores the detector, the adaptive one attacks classifier and detector together "
        "(BPDA through the squeezers).",
        "",
        _masking_sentence(summary),
        "",
        f"![PGD and DDN robustness curves of baseline and student]({figures}/"
        "robustness_curves.png)",
        "",
        f"PGD robust accuracy at each eps ({pgd['norm']}; each eps re-attacks the images that "
        "survived the smaller one, with the curve's losses, so at the headline eps it can lie "
        "below the table's value):",
        "",
        curve_table(summary),
        "",
        f"![Detector ROC curves]({figures}/roc.png)",
        "",
        "Every attack on the detector, on the attacked images the baseline classifies "
        "correctly:",
        "",
        detector_table(summary),
        "",
        "Lipschitz estimates with respect to the L2 norm of the [0, 1] input: an upper bound "
        "for the logits, and the largest input-gradient norm of the logit margin over the "
        "test images (the margin is sqrt(2)-Lipschitz in the logits, so the local estimate "
        "is at most sqrt(2) times the bound):",
        "",
        lipschitz_table(summary),
        "",
        RESULTS_END,
    ])


def render_report(summary: dict[str, Any], *, examples: Sequence[tuple[str, str]]) -> str:
    """The whole ``robustness.md``; ``examples`` are (caption, file under figures/)."""
    parts = [
        "# Robustness report",
        "",
        "Written by the `evaluate` stage (`dvc repro`) from the stages' records in `metrics/`; "
        "everything it shows is in `reports/summary.json`, its headline numbers in "
        "`metrics/evaluate.json`. Every number here is read from those files.",
        "",
        "## Results",
        "",
        results_markdown(summary),
        "",
        "## Models",
        "",
        models_table(summary),
        "",
        f"The student agrees with its teacher on "
        f"{fmt_fraction(summary['models']['student']['teacher_agreement'])} of the test "
        "images.",
        "",
        f"![Confusion matrices]({FIGURES}/confusion_matrices.png)",
        "",
        "## Detector scores",
        "",
        f"![Detector scores]({FIGURES}/detector_scores.png)",
        "",
        "## Examples",
        "",
        "Clean | perturbation (amplified, grey = unchanged) | adversarial.",
        "",
    ]
    for caption, name in examples:
        parts += [f"### {caption}", "", f"![{caption}]({FIGURES}/{name})", ""]
    return "\n".join(parts)


def results_section(report_text: str) -> str:
    """The part of a report between the results markers (markers included)."""
    start = report_text.find(RESULTS_BEGIN)
    end = report_text.find(RESULTS_END, max(start, 0))
    if start < 0 or end < 0:
        raise ValueError("the report has no results section (markers missing)")
    return report_text[start:end + len(RESULTS_END)]


def splice_results(readme_text: str, section: str, *, figures_to: str,
                   figures_from: str = FIGURES) -> str:
    """``readme_text`` with its results section replaced by ``section`` (image links moved
    from ``figures_from`` to ``figures_to``)."""
    try:
        old = results_section(readme_text)
    except ValueError:
        raise ValueError(f"the README has no results section: put the lines {RESULTS_BEGIN}"
                         f" and {RESULTS_END} where it belongs") from None
    return readme_text.replace(old, section.replace(f"]({figures_from}/",
                                                    f"]({figures_to}/"))
