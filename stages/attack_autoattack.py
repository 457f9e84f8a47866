"""Stage `attack_autoattack@<model>`: APGD-CE, APGD-T and Square as a per-sample worst case,
and the gradient-masking evidence, on the first attack.samples test images of a model."""

import sys

from modelrobustness.pipeline.attack_autoattack import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("attack_autoattack", main, *sys.argv[1:])
