"""Stage `attack@<model>`: PGD, AutoAttack and DDN on the first attack.samples test images
of a model."""

import sys

from modelrobustness.pipeline.attack import main
from modelrobustness.pipeline.attack_stage import attack_stage_processes
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("attack", main, *sys.argv[1:], processes=attack_stage_processes)
