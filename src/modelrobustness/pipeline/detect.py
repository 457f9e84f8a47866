"""Stage ``squeeze_detect``: the feature-squeezing detector on the baseline, plain and
adaptive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.prepared import load_split
from ..evaluation.detection import SqueezeConfig, evaluate_squeezing
from ..evaluation.pgd import PGDConfig
from ..models.inference import inference_copy
from ..reporting.figures import score_histogram, score_histogram_png
from ..utils.io import atomic_write_text, file_sha256, table_csv
from .artifacts.adversarial import read_successful
from .artifacts.metrics import write_metrics, write_table
from .artifacts.models import load_trained
from .attack_pgd import pgd_config
from .params import (
    ParamsError,
    attack_samples,
    config_section,
    device,
    load_params,
    section_config,
    seed,
)
from .paths import ProjectPaths

DETECTOR_MODEL = "baseline"
ATTACKS = ("pgd", "ddn")


SQUEEZE_SECTION = config_section(SqueezeConfig)


def squeeze_config(params: Mapping[str, Any]) -> SqueezeConfig:
    """The ``squeeze`` section."""
    return section_config(SqueezeConfig, params, "squeeze")


def detector_attack_config(params: Mapping[str, Any]) -> PGDConfig:
    """``attack.pgd``, whose budget and steps the detector's own PGD runs use: L-inf only
    (the adaptive attack is)."""
    config = pgd_config(params)
    if config.norm != "linf":
        raise ParamsError(
            f"parameter attack.pgd.norm is {config.norm!r}; expected 'linf' "
            "for squeeze_detect (its adaptive attack is L-inf only)"
        )
    return config


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    config, attack_config = squeeze_config(params), detector_attack_config(params)
    samples, batch_size = attack_samples(params)
    run_device = device(params)
    model = inference_copy(load_trained(paths, DETECTOR_MODEL, run_device), device=run_device)
    test = load_split(paths.prepared, "test")
    adversarial = {name: read_successful(paths, name, DETECTOR_MODEL) for name in ATTACKS}
    outcome = evaluate_squeezing(
        model,
        config=config,
        pgd_config=attack_config,
        val=load_split(paths.prepared, "val"),
        test=test,
        adversarial=adversarial,
        attack_set=(test[0][:samples], test[1][:samples]),
        seed=seed(params),
        batch_size=batch_size,
        device=run_device,
    )
    # which checkpoint the detector was calibrated on: the command line uses it only there
    m = {
        **outcome.metrics,
        "model": DETECTOR_MODEL,
        "model_sha256": file_sha256(paths.model(DETECTOR_MODEL)),
    }
    subsets = m.pop("selection_detection_rate", {})  # none: no selection ran
    write_table(
        paths,
        "squeeze_detect_subsets",
        [{"squeezers": name, "detection_rate": rate} for name, rate in subsets.items()],
        ["squeezers", "detection_rate"],
    )
    write_table(
        paths,
        "squeeze_detect_squeezers",
        [
            {"squeezer": name, "clean_accuracy": acc}
            for name, acc in m.pop("squeezed_accuracy").items()
        ],
        ["squeezer", "clean_accuracy"],
    )
    write_metrics(paths, "squeeze_detect", m)
    for name, rows in outcome.roc.items():
        atomic_write_text(paths.roc(name), table_csv(rows, ["fpr", "tpr", "threshold"]))
    atomic_write_text(
        paths.score_histogram,
        table_csv(score_histogram(outcome.scores), ["score", *outcome.scores]),
    )
    score_histogram_png(
        paths.scores_png,
        outcome.scores,
        thresholds={"calibrated": m["threshold"], "fixed": m["fixed_threshold"]["threshold"]},
        title="Feature squeezing on the baseline: " + " + ".join(m["selected_squeezers"]),
    )
    print(
        f"squeeze_detect: squeezers {m['selected_squeezers']}, threshold {m['threshold']:.4f}, "
        f"clean FPR {m['clean_false_positive_rate']:.4f}, detection {m['detection_rate']}, "
        f"AUC {m['roc_auc']}, adaptive {m['adaptive']['adaptive']}"
    )
