"""Stage `train_baseline`: train the baseline classifier on data/prepared/."""

from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.train import main

if __name__ == "__main__":
    run_stage("train_baseline", main)
