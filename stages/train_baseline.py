"""Stage `train_baseline`: train the baseline classifier on data/prepared/."""

from modelrobustness.params import load_params
from modelrobustness.training_stage import run_training_stage

if __name__ == "__main__":
    run_training_stage("baseline", load_params())
