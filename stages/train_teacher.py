"""Stage `train_teacher`: the distillation teacher, trained on softmax(logits / T)."""

from modelrobustness.pipeline.distill import train_teacher

if __name__ == "__main__":
    train_teacher()
