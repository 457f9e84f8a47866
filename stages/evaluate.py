"""Stage `evaluate`: every stage's metrics into metrics/evaluate.json and reports/."""

from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.evaluate import main

if __name__ == "__main__":
    run_stage("evaluate", main)
