"""Stage `train_adversarial`: adversarial training (FGSM-RS, PGD or TRADES), the epoch kept
by robust validation accuracy."""

from modelrobustness.pipeline.adversarial import main
from modelrobustness.pipeline.entry import run_stage

if __name__ == "__main__":
    run_stage("train_adversarial", main)
