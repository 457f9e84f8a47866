"""Stage `attack_pgd@<model>`: PGD on the first attack.samples test images of a model."""

import sys

from modelrobustness.attack_outputs import save_attack_outputs
from modelrobustness.data import load_class_names, load_split
from modelrobustness.device import resolve_device
from modelrobustness.models import load_model
from modelrobustness.params import load_params
from modelrobustness.robustness import PGDSettings, evaluate_pgd


def main(model_name: str) -> None:
    params = load_params()
    attack = params["attack"]
    device = resolve_device(params.get("device", "auto"))
    model = load_model(f"models/{model_name}.pt", device=device)
    x, y = load_split("data/prepared", "test")
    x, y = x[: int(attack["samples"])], y[: int(attack["samples"])]
    settings = PGDSettings.from_params(attack["pgd"])
    outcome = evaluate_pgd(model, x, y, settings=settings, seed=int(params["seed"]),
                           batch_size=int(attack["batch_size"]), device=device)
    save_attack_outputs(outcome, x, attack="pgd", model=model_name,
                        class_names=load_class_names("data/prepared"),
                        curve_name="robustness_curve.csv",
                        curve_columns=["eps", "robust_accuracy"],
                        title=f"PGD {settings.norm} eps={settings.eps:g} on {model_name}")
    m = outcome.metrics
    print(f"pgd@{model_name}: clean {m['clean_accuracy']:.4f}, robust {m['robust_accuracy']:.4f}"
          f" {m['by_loss']}, {m['seconds']:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
