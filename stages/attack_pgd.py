"""Stage `attack_pgd@<model>`: PGD on the first attack.samples test images of a model."""

import sys

from modelrobustness.pipeline.attack_pgd import main

if __name__ == "__main__":
    main(sys.argv[1])
