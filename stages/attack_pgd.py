"""Stage `attack_pgd@<model>`: PGD on the first attack.samples test images of a model."""

import sys

from modelrobustness.attack_io import load_attack_inputs, save_attack_outputs
from modelrobustness.device import resolve_device
from modelrobustness.params import load_params
from modelrobustness.robustness import PGDSettings, evaluate_pgd


def main(model_name: str) -> None:
    params = load_params()
    attack = params["attack"]
    device = resolve_device(params.get("device", "auto"))
    model, x, y, class_names = load_attack_inputs(model_name, int(attack["samples"]), device)
    settings = PGDSettings.from_params(attack["pgd"])
    outcome = evaluate_pgd(model, x, y, settings=settings, seed=int(params["seed"]),
                           batch_size=int(attack["batch_size"]), device=device)
    save_attack_outputs(outcome, x, attack="pgd", model=model_name,
                        class_names=class_names,
                        curve_name="robustness_curve.csv",
                        curve_columns=["eps", "robust_accuracy"],
                        title=f"PGD {settings.norm} eps={settings.eps:g} on {model_name}")
    m = outcome.metrics
    print(f"pgd@{model_name}: clean {m['clean_accuracy']:.4f}, robust {m['robust_accuracy']:.4f}"
          f" {m['by_loss']}, {m['seconds']:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
