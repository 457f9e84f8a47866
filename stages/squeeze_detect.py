"""Stage `squeeze_detect`: the feature-squeezing detector on the baseline, plain and adaptive."""

from modelrobustness.pipeline.detect import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("squeeze_detect", main)
