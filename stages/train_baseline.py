"""Stage `train_baseline`: train the baseline classifier on data/prepared/."""

import torch

from modelrobustness.device import resolve_device
from modelrobustness.files import atomic_write_json
from modelrobustness.models import save_checkpoint
from modelrobustness.params import load_params
from modelrobustness.runs import train_classifier
from modelrobustness.tracking import epoch_logger, log_confusion, open_live
from modelrobustness.training import FitConfig


def main() -> None:
    params = load_params()
    seed = int(params["seed"])
    torch.manual_seed(seed)  # weight initialisation
    with open_live("plots/train_baseline") as live:
        run = train_classifier(
            "data/prepared", model_params=params["model"],
            fit_config=FitConfig.from_params(params["train"]), seed=seed,
            device=resolve_device(params.get("device", "auto")),
            on_epoch_end=epoch_logger(live), desc="baseline",
        )
        log_confusion(live, run.test_labels, run.test_predictions, run.class_names)
    save_checkpoint("models/baseline.pt", run.model, extra={"role": "baseline"})
    atomic_write_json("metrics/train_baseline.json", run.metrics)
    print(f"baseline: test accuracy {run.metrics['test_accuracy']:.4f}, "
          f"{run.metrics['train_seconds']:.1f} s")


if __name__ == "__main__":
    main()
