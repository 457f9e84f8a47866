"""The text of ``reports/robustness.md``, made from the summary (``metrics/evaluate.json``):
every number in it is formatted from the summary. (``figures`` draws the figures and
``writer`` writes the folder; this module imports nothing heavy, so the command line stays quick.)

The part between :data:`RESULTS_BEGIN` and :data:`RESULTS_END` is the "Results" section
that ``python -m modelrobustness report --readme README.md`` copies into the README.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .summary import ATTACKED_MODELS, CLASSIFIERS, summary_rows

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


def fmt_interval(interval: Sequence[float] | None) -> str:
    """A 95% interval as ``0.0383–0.0928``."""
    return DASH if interval is None else f"{interval[0]:.4f}–{interval[1]:.4f}"


def fmt_with_interval(value: float | None, interval: Sequence[float] | None) -> str:
    return (
        fmt_fraction(value)
        if interval is None
        else f"{fmt_fraction(value)} ({fmt_interval(interval)})"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, align: str) -> str:
    """A GitHub markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError(
            f"a table of {len(header)} columns with alignment {align!r} and "
            f"rows of {sorted({len(r) for r in rows})} cells"
        )
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
    ("95% interval", "robust_accuracy_ci", fmt_interval),
    ("attack success", "attack_success_rate", fmt_fraction),
    ("DDN median L2", "median_l2", fmt_norm),
    ("detected", "detection_rate", fmt_fraction),
    ("fooled and undetected", "undetected_success_rate", fmt_fraction),
)
ATTACK_LABELS = {
    "pgd_ce": "PGD-CE",
    "pgd_margin": "PGD-margin",
    "apgd_ce": "APGD-CE",
    "apgd_t": "APGD-T",
    "square": "Square",
}
CHECK_LABELS = {
    "gradient_free_breaks_more": "Square fools images every gradient attack missed",
    "ce_leaves_more": "cross-entropy attacks leave >= 5 points more than the worst case",
    "large_eps_survives": "robust accuracy above 0.10 at a very large eps",
    "more_steps_weaker": "PGD with 100 steps leaves more than with 10",
    "zero_gradients": "zero input gradients on >= 5% of the images",
}


def summary_table(summary: dict[str, Any]) -> str:
    """The model x defense x attack table (the CLI's ``report`` prints it too)."""
    rows = [[fmt(row.get(key)) for _, key, fmt in SUMMARY_COLUMNS] for row in summary_rows(summary)]
    return markdown_table(
        [c[0] for c in SUMMARY_COLUMNS], rows, align="lll" + "r" * (len(SUMMARY_COLUMNS) - 3)
    )


def _attack_columns(row: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """(attack name, ensemble row) in the order the attacks ran: PGD's, then AutoAttack's."""
    return [(name, row[stage]) for stage in ("pgd", "autoattack") for name in row[stage]["attacks"]]


def headline_table(summary: dict[str, Any]) -> str:
    """Per classifier: the worst case over every attack with its interval, each attack's
    number (after it and the attacks before it in its stage), and the masking checks."""
    first = summary["robustness"]["baseline"]["none"]
    names = [name for name, _ in _attack_columns(first)]
    rows = []
    for model, defense, label in CLASSIFIERS:
        row = summary["robustness"][model][defense]
        fired = [c for c, check in row["checks"].items() if check["flag"]]
        rows.append(
            [
                model,
                label,
                fmt_fraction(row["pgd"]["clean_accuracy"]),
                "**" + fmt_fraction(row["worst_case"]) + "**",
                fmt_interval(row["worst_case_ci"]),
                *(fmt_fraction(stage["by_attack"][name]) for name, stage in _attack_columns(row)),
                f"**{len(fired)} of {len(row['checks'])}**" if fired else "none",
            ]
        )
    header = [
        "model",
        "defense",
        CLEAN_ATTACKED,
        "worst case",
        "95% interval",
        *(ATTACK_LABELS.get(n, n) for n in names),
        "masking checks fired",
    ]
    return markdown_table(header, rows, align="ll" + "r" * (3 + len(names)) + "l")


def _evidence(name: str, check: dict[str, Any]) -> str:
    """One check's evidence in words."""
    if name == "gradient_free_breaks_more":
        return f"{check['samples']} images ({fmt_fraction(check['share'])})"
    if name == "ce_leaves_more":
        return (
            f"CE {fmt_fraction(check['ce_robust_accuracy'])} vs worst case "
            f"{fmt_fraction(check['worst_case'])}"
        )
    if name == "large_eps_survives":
        return f"{fmt_fraction(check['robust_accuracy'])} at eps {check['eps']:.3g}"
    if name == "more_steps_weaker":
        steps = [k for k in check if k.startswith("robust_accuracy_")]
        return ", ".join(f"{k.split('_')[2]} steps {fmt_fraction(check[k])}" for k in steps)
    return f"{check['samples']} images ({fmt_fraction(check['share'])})"


def checks_table(summary: dict[str, Any]) -> str:
    """Each gradient-masking check per classifier: fired or not, and its evidence."""
    rows = []
    first = summary["robustness"]["baseline"]["none"]["checks"]
    for name in [*(n for n in CHECK_LABELS if n in first), *sorted(set(first) - set(CHECK_LABELS))]:
        cells = [CHECK_LABELS.get(name, name)]
        for model, defense, _ in CLASSIFIERS:
            check = summary["robustness"][model][defense]["checks"][name]
            cells.append(f"{fmt_flag(check['flag'])}: {_evidence(name, check)}")
        rows.append(cells)
    return markdown_table(
        ["gradient-masking check", *(m for m, _, _ in CLASSIFIERS)],
        rows,
        align="l" * (1 + len(CLASSIFIERS)),
    )


def curve_table(summary: dict[str, Any]) -> str:
    curves = summary["pgd"]["curve"]
    eps = sorted(curves["baseline"], key=float)
    rows = [
        [model, *(fmt_fraction(curves[model].get(e)) for e in eps)] for model in ATTACKED_MODELS
    ]
    return markdown_table(["eps", *eps], rows, align="l" + "r" * len(eps))


def lipschitz_table(summary: dict[str, Any]) -> str:
    rows = [
        [
            model,
            fmt_large(summary["models"][model]["lipschitz_upper_bound"]),
            fmt_large(summary["models"][model]["local_lipschitz"]),
        ]
        for model in ATTACKED_MODELS
    ]
    return markdown_table(
        [
            "model",
            "upper bound: product of layer norms",
            "local estimate: largest margin-gradient norm",
        ],
        rows,
        align="lrr",
    )


def models_table(summary: dict[str, Any]) -> str:
    models, test = summary["models"], summary["setup"]["data"]["test"]
    rows = [
        [role, fmt_fraction(models[role]["test_accuracy"]), fmt_fraction(models[role]["macro_f1"])]
        for role in models
    ]
    return markdown_table(
        ["model", f"test accuracy (all {test} test images)", "macro F1"], rows, align="lrr"
    )


def detector_table(summary: dict[str, Any]) -> str:
    """Every attack on the detector side by side: the attack stages' adversarial examples
    and the detector stage's own PGD runs (plain and adaptive: the same images, budget and
    steps), each flagged at the calibrated threshold, and the clean false positives."""
    s = summary["squeezing"]
    attacks, fixed, steps = s["attacks"], s["fixed_threshold"], s["adaptive_steps"]
    calibrated = f"detected at {s['threshold']:.3f} (calibrated)"
    fixed_label = f"detected at {fixed['threshold']:.3f} (fixed)"
    labels = (
        ("pgd", "PGD examples of attack@baseline (each image's first successful loss)"),
        ("ddn", "DDN examples of attack@baseline (minimal L2)"),
        ("plain", f"PGD, plain: margin loss, all {steps} steps, ignores the detector"),
        ("plain_first_iterate", "PGD, plain, stopped at the first misclassified step"),
        ("adaptive", f"adaptive PGD: BPDA through the squeezers, {steps} steps"),
    )
    rows = []
    for key, label in labels:
        run = attacks[key]
        rows.append(
            [
                label,
                DASH if run["examples"] is None else str(run["examples"]),
                fmt_fraction(run["detection_rate"]),
                fmt_fraction(run.get("fixed_detection_rate")),
                fmt_fraction(run.get("roc_auc")),
            ]
        )
    rows.append(
        [
            f"clean test images (all {summary['setup']['data']['test']}): false positives",
            "",
            fmt_fraction(s["clean_false_positive_rate"]),
            fmt_fraction(fixed["clean_false_positive_rate"]),
            "",
        ]
    )
    return markdown_table(
        ["attack on the detector", "adversarial examples", calibrated, fixed_label, "ROC-AUC"],
        rows,
        align="lrrrr",
    )


def _training_method(model: dict[str, Any]) -> str:
    """Adversarial training's method in words."""
    method, eps = model["method"], f"{model['norm']} eps {model['eps']:g}"
    if method == "fgsm_rs":
        name = "FGSM with a random start"
    elif method == "pgd":
        name = f"PGD, {model['steps']} steps"
    else:
        name = f"TRADES, beta {model['beta']:g}, {model['steps']} steps"
    epochs = model["warmup_epochs"]
    warmup = f", eps ramped up over {epochs:g} epoch{'' if epochs == 1 else 's'}" if epochs else ""
    start = "; fine-tuned from the baseline" if model["init"] == "baseline" else ""
    return f"{name} at {eps}, step {model['alpha']:.3g}{warmup}{start}"


def adversarial_training_text(summary: dict[str, Any]) -> str:
    """What the adversarial training's guard saw: the kept epoch, its robust validation
    accuracy, and both kinds of overfitting."""
    model = summary["models"]["adversarial"]
    collapsed = model["collapsed_epochs"]
    catastrophic = (
        f"**catastrophic overfitting** at epochs {', '.join(map(str, collapsed))} "
        "(PGD-10 accuracy collapsed while FGSM accuracy stayed high)"
        if collapsed
        else "no catastrophic overfitting (no epoch where PGD-10 "
        "accuracy collapsed while FGSM accuracy stayed high)"
    )
    return (
        f"Adversarial training ({_training_method(model)}) kept epoch "
        f"{model['best_epoch']}, the one with the highest robust accuracy under PGD-10 "
        f"on {model['val_images']} validation images: "
        f"{fmt_fraction(model['val_robust_accuracy'])} (clean "
        f"{fmt_fraction(model['val_subset_accuracy'])}, FGSM "
        f"{fmt_fraction(model['val_fgsm_accuracy'])}); on the first {model['test_images']} "
        f"test images {fmt_fraction(model['test_robust_accuracy'])} under PGD-10 (clean "
        f"{fmt_fraction(model['test_subset_accuracy'])}). The last "
        f"epoch's robust validation accuracy was "
        f"{fmt_fraction(model['val_robust_accuracy'] - model['robust_overfitting_drop'])} "
        f"(robust overfitting: {model['robust_overfitting_drop']:+.4f} since the kept "
        f"epoch); {catastrophic}."
    )


def setup_table(summary: dict[str, Any]) -> str:
    """What made the results: data, models, attacks and how many images they attacked."""
    setup = summary["setup"]
    data, training, pgd = setup["data"], setup["training"], setup["pgd"]
    ddn, squeezing, aa = setup["ddn"], setup["squeezing"], setup["autoattack"]
    channels, height, width = data["image_shape"]
    color = "gray" if channels == 1 else "RGB"
    temperature = summary["models"]["student"]["temperature"]
    adversarial = summary["models"]["adversarial"]
    rows = [
        [
            "data",
            f"{data['source']}: {data['images']:,} images in {data['classes']} classes, "
            f"resized to {width}x{height} {color}; split after de-duplication into "
            f"{data['train']:,} train, {data['val']:,} validation, {data['test']:,} test",
        ],
        [
            "models",
            f"{training['arch']} (width {training['width']}), {training['epochs']} "
            f"epochs each: baseline, teacher and student (distilled at T = "
            f"{temperature:g}, deployed at T = 1); adversarial, "
            f"{adversarial['epochs']} epochs ({_training_method(adversarial)})",
        ],
        [
            "PGD",
            f"{pgd['norm']} eps {pgd['eps']:g}, {pgd['steps']} steps, losses "
            f"{', '.join(pgd['losses'])}; the first {pgd['samples']} test images",
        ],
        [
            "AutoAttack",
            f"{aa['version']}: {aa['norm']} eps {aa['eps']:g}; APGD-CE and "
            f"APGD-T over the top {aa['n_target_classes']} other classes, "
            f"{aa['steps']} steps each; Square, {aa['square_queries']:,} queries; "
            f"the first {aa['samples']} test images",
        ],
        ["DDN", f"{ddn['steps']} steps; the first {ddn['samples']} test images"],
        [
            "detector",
            f"feature squeezing on the baseline ({' + '.join(squeezing['squeezers'])})"
            f", threshold calibrated for a false-positive rate of "
            f"{fmt_fraction(squeezing['fpr'])} on clean validation images; its own "
            f"PGD runs: {squeezing['adaptive_steps']} steps on the "
            f"{squeezing['adaptive_samples']} attacked images the baseline "
            "classifies correctly",
        ],
    ]
    return markdown_table(["setup", ""], rows, align="ll")


def results_markdown(summary: dict[str, Any], *, figures: str = FIGURES) -> str:
    """The report's results part (the README's "Results" section); image links relative to
    ``figures``."""
    pgd = summary["pgd"]
    return "\n".join(
        [
            RESULTS_BEGIN,
            "",
            setup_table(summary),
            "",
            headline_table(summary),
            "",
            "*worst case*: share of the attacked images that survive every attack at the headline "
            "budget (per image: PGD's losses, APGD-CE, APGD-T and Square), with its 95% Wilson "
            "interval. Each attack column is the robust accuracy after that attack *and the ones "
            "left of it in the same evaluation*: within PGD and within AutoAttack each "
            "attack runs only on the images the earlier ones left robust, so PGD-CE and APGD-CE "
            "are their own numbers. *masking checks*: the sanity checks below; any that fires "
            "means the gradient attacks' numbers overstate robustness.",
            "",
            checks_table(summary),
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
            "successful perturbations; *95% interval*: Wilson interval of the robust accuracy. "
            "PGD and AutoAttack count an image as robust only when it survives every attack of "
            "the stage (per-sample worst case). On the detector, *PGD (plain)* and "
            "*adaptive PGD* are one run each on the same images with the same budget and "
            "steps: the plain one ignores the detector, the adaptive one attacks classifier "
            "and detector together (BPDA through the squeezers).",
            "",
            f"![PGD and DDN robustness curves of {', '.join(ATTACKED_MODELS)}]({figures}/"
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
        ]
    )


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
        adversarial_training_text(summary),
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
    return report_text[start : end + len(RESULTS_END)]


def splice_results(
    readme_text: str, section: str, *, figures_to: str, figures_from: str = FIGURES
) -> str:
    """``readme_text`` with its results section replaced by ``section`` (image links moved
    from ``figures_from`` to ``figures_to``)."""
    try:
        old = results_section(readme_text)
    except ValueError:
        raise ValueError(
            f"the README has no results section: put the lines {RESULTS_BEGIN}"
            f" and {RESULTS_END} where it belongs"
        ) from None
    return readme_text.replace(old, section.replace(f"]({figures_from}/", f"]({figures_to}/"))
