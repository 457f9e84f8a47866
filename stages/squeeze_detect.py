"""Stage `squeeze_detect`: the feature-squeezing detector on the baseline, plain and adaptive."""

import torch

from modelrobustness.data import load_split
from modelrobustness.device import resolve_device
from modelrobustness.files import atomic_write_json, atomic_write_text
from modelrobustness.models import load_model
from modelrobustness.params import load_params
from modelrobustness.reporting import score_histogram, score_histogram_png
from modelrobustness.serialization import table_csv
from modelrobustness.squeeze_evaluation import SqueezeSettings, evaluate_squeezing


def main() -> None:
    params = load_params()
    attack, settings = params["attack"], SqueezeSettings.from_params(params["squeeze"])
    device = resolve_device(params.get("device", "auto"))
    model = load_model("models/baseline.pt", device=device)
    test = load_split("data/prepared", "test")
    adversarial = {}
    for name in ("pgd", "ddn"):
        saved = torch.load(f"data/adversarial/{name}_baseline.pt", weights_only=True)
        adversarial[name] = saved["x_adv"][saved["success"]]
    samples = int(attack["samples"])
    outcome = evaluate_squeezing(
        model, settings=settings, val=load_split("data/prepared", "val"), test=test,
        adversarial=adversarial, attack_set=(test[0][:samples], test[1][:samples]),
        eps=float(attack["pgd"]["eps"]), step_size=float(attack["pgd"]["step_size"]),
        select_steps=int(attack["pgd"]["steps"]), norm=attack["pgd"]["norm"],
        seed=int(params["seed"]),
        batch_size=int(attack["batch_size"]), device=device,
    )
    m = outcome.metrics
    atomic_write_json("metrics/squeeze_detect.json", m)
    for name, rows in outcome.roc.items():
        atomic_write_text(f"plots/squeeze_detect/roc_{name}.csv",
                          table_csv(rows, ["fpr", "tpr", "threshold"]))
    atomic_write_text("plots/squeeze_detect/score_histogram.csv",
                      table_csv(score_histogram(outcome.scores), ["score", *outcome.scores]))
    score_histogram_png("plots/squeeze_detect/scores.png", outcome.scores,
                        thresholds={"calibrated": m["threshold"],
                                    "fixed": m["fixed_threshold"]["threshold"]},
                        title="Feature squeezing on the baseline: "
                              + " + ".join(m["selected_squeezers"]))
    print(f"squeeze_detect: squeezers {m['selected_squeezers']}, threshold {m['threshold']:.4f}, "
          f"clean FPR {m['clean_false_positive_rate']:.4f}, detection {m['detection_rate']}, "
          f"AUC {m['roc_auc']}, adaptive {m['adaptive']['adaptive']}")


if __name__ == "__main__":
    main()
