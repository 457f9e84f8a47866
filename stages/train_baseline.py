"""Stage `train_baseline`: train the baseline classifier on data/prepared/."""

from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.train import main, training_processes

if __name__ == "__main__":
    run_stage("train_baseline", main, processes=training_processes)
