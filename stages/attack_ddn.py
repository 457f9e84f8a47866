"""Stage `attack_ddn@<model>`: DDN on the first attack.samples test images of a model."""

import sys

from modelrobustness.pipeline.attack_ddn import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("attack_ddn", main, *sys.argv[1:])
