"""Stage `train_teacher`: the distillation teacher, trained on softmax(logits / T)."""

from modelrobustness.pipeline.distill import train_teacher
from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.train import training_processes

if __name__ == "__main__":
    run_stage("train_teacher", train_teacher, processes=training_processes)
