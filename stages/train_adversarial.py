"""Stage `train_adversarial`: adversarial training (FGSM-RS, PGD or TRADES), the epoch kept
by robust validation accuracy."""

from modelrobustness.pipeline.adversarial import main
from modelrobustness.pipeline.entry import run_stage
from modelrobustness.pipeline.train import training_processes

if __name__ == "__main__":
    run_stage("train_adversarial", main, processes=training_processes)
