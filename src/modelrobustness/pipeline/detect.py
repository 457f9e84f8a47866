"""Stage ``squeeze_detect``: the feature-squeezing detector on the baseline, plain and
adaptive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.prepared import load_split
from ..evaluation.detection import SqueezeConfig, evaluate_squeezing
from ..reporting.figures import score_histogram, score_histogram_png
from ..utils.io import atomic_write_text, table_csv
from .artifacts.adversarial import read_successful
from .artifacts.metrics import write_metrics
from .artifacts.models import load_trained
from .attack_pgd import pgd_config
from .params import ParamsError, attack_samples, device, load_params, section_config, seed
from .paths import ProjectPaths

DETECTOR_MODEL = "baseline"
ATTACKS = ("pgd", "ddn")


def squeeze_config(params: Mapping[str, Any]) -> SqueezeConfig:
    """The ``squeeze`` section."""
    return section_config(SqueezeConfig, params, "squeeze")


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    config, attack_config = squeeze_config(params), pgd_config(params)
    if attack_config.norm != "linf":
        raise ParamsError(f"parameter attack.pgd.norm is {attack_config.norm!r}; expected "
                          "'linf' for squeeze_detect (its adaptive attack is L-inf only)")
    samples, batch_size = attack_samples(params)
    run_device = device(params)
    model = load_trained(paths, DETECTOR_MODEL, run_device)
    test = load_split(paths.prepared, "test")
    adversarial = {name: read_successful(paths, name, DETECTOR_MODEL) for name in ATTACKS}
    outcome = evaluate_squeezing(
        model, config=config, pgd_config=attack_config, val=load_split(paths.prepared, "val"),
        test=test, adversarial=adversarial, attack_set=(test[0][:samples], test[1][:samples]),
        seed=seed(params), batch_size=batch_size, device=run_device,
    )
    m = outcome.metrics
    write_metrics(paths, "squeeze_detect", m)
    for name, rows in outcome.roc.items():
        atomic_write_text(paths.roc(name), table_csv(rows, ["fpr", "tpr", "threshold"]))
    atomic_write_text(paths.score_histogram,
                      table_csv(score_histogram(outcome.scores), ["score", *outcome.scores]))
    score_histogram_png(paths.scores_png, outcome.scores,
                        thresholds={"calibrated": m["threshold"],
                                    "fixed": m["fixed_threshold"]["threshold"]},
                        title="Feature squeezing on the baseline: "
                              + " + ".join(m["selected_squeezers"]))
    print(f"squeeze_detect: squeezers {m['selected_squeezers']}, threshold {m['threshold']:.4f}, "
          f"clean FPR {m['clean_false_positive_rate']:.4f}, detection {m['detection_rate']}, "
          f"AUC {m['roc_auc']}, adaptive {m['adaptive']['adaptive']}")
