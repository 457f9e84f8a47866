"""Stage `download`: fetch the configured data source into data/raw/<class>/."""

from modelrobustness.pipeline.download import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("download", main)
