"""Stage `train_student`: trained on the teacher's soft labels at T, deployed at T = 1."""

import functools

from modelrobustness.data import load_split
from modelrobustness.defenses import soft_cross_entropy, soft_labels
from modelrobustness.device import resolve_device
from modelrobustness.evaluation import predict_logits
from modelrobustness.models import load_model
from modelrobustness.params import load_params
from modelrobustness.training_stage import run_training_stage


def main() -> None:
    params = load_params()
    distill = params["distill"]
    temperature = float(distill["temperature"])
    device = resolve_device(params.get("device", "auto"))
    teacher = load_model("models/teacher.pt", device=device)
    train_x, _ = load_split("data/prepared", "train")
    targets = soft_labels(teacher, train_x, temperature=temperature, device=device)
    test_x, _ = load_split("data/prepared", "test")
    run_training_stage(
        "student", params, model_params={**params["model"], **(distill.get("model") or {})},
        loss_fn=functools.partial(soft_cross_entropy, temperature=temperature),
        train_targets=targets, extra_metrics={"temperature": temperature},
        teacher_predictions=predict_logits(teacher, test_x, device=device).argmax(1),
    )


if __name__ == "__main__":
    main()
