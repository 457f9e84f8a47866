"""Stage `attack_ddn@<model>`: DDN on the first attack.samples test images of a model."""

import sys

from modelrobustness.attack_io import load_attack_inputs, save_attack_outputs
from modelrobustness.device import resolve_device
from modelrobustness.params import load_params
from modelrobustness.robustness import evaluate_ddn


def main(model_name: str) -> None:
    params = load_params()
    attack, ddn = params["attack"], params["attack"]["ddn"]
    device = resolve_device(params.get("device", "auto"))
    model, x, y, class_names = load_attack_inputs(model_name, int(attack["samples"]), device)
    outcome = evaluate_ddn(model, x, y, steps=int(ddn["steps"]), init_norm=float(ddn["init_norm"]),
                           gamma=float(ddn["gamma"]), levels=ddn["levels"],
                           batch_size=int(attack["batch_size"]), seed=int(params["seed"]),
                           device=device)
    save_attack_outputs(outcome, x, attack="ddn", model=model_name,
                        class_names=class_names,
                        curve_name="accuracy_vs_l2.csv", curve_columns=["l2", "accuracy"],
                        title=f"DDN ({ddn['steps']} steps) on {model_name}")
    m = outcome.metrics
    print(f"ddn@{model_name}: clean {m['clean_accuracy']:.4f}, success "
          f"{m['attack_success_rate']:.4f}, median L2 {m['median_l2']}, {m['seconds']:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
