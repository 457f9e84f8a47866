"""Stage `attack_pgd@<model>`: PGD on the first attack.samples test images of a model."""

import sys

from modelrobustness.pipeline.attack_pgd import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("attack_pgd", main, *sys.argv[1:])
