"""Stage `attack_ddn@<model>`: DDN on the first attack.samples test images of a model."""

import sys

from modelrobustness.pipeline.attack_ddn import main

if __name__ == "__main__":
    main(sys.argv[1])
