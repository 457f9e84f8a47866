"""Stage `train_teacher`: the distillation teacher, trained on softmax(logits / T)."""

import functools

from modelrobustness.defenses import temperature_cross_entropy
from modelrobustness.params import load_params
from modelrobustness.training_stage import run_training_stage


def main() -> None:
    params = load_params()
    distill = params["distill"]
    temperature = float(distill["temperature"])
    run_training_stage(
        "teacher", params, model_params={**params["model"], **(distill.get("model") or {})},
        loss_fn=functools.partial(temperature_cross_entropy, temperature=temperature),
        extra_metrics={"temperature": temperature},
    )


if __name__ == "__main__":
    main()
