"""Stage `split`: de-duplicate, split stratified and resize into data/prepared/."""

from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.split import main

if __name__ == "__main__":
    run_stage("split", main)
