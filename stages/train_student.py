"""Stage `train_student`: trained on the teacher's soft labels at T, deployed at T = 1."""

from modelrobustness.pipeline.distill import train_student
from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.train import training_processes

if __name__ == "__main__":
    run_stage("train_student", train_student, processes=training_processes)
