"""Every artifact path of the pipeline, relative to the project folder (the stages run in
it; the command line may point elsewhere with ``--project``). ``dvc.yaml`` declares the same
paths as the stages' outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The curve file of each attack stage, under its plots folder.
CURVE_FILES = {
    "pgd": "robustness_curve.csv",
    "ddn": "accuracy_vs_l2.csv",
    "autoattack": "robust_accuracy_by_attack.csv",
}


@dataclass(frozen=True)
class ProjectPaths:
    """The paths of one project folder."""

    root: Path = Path(".")

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def report(self) -> Path:
        return self.reports / "robustness.md"

    @property
    def download_skipped(self) -> Path:
        return self.detail("download_skipped")

    def metrics(self, name: str) -> Path:
        """``metrics/<name>.json``: ``download``, ``train_<role>``, ``attack_pgd_<model>``..."""
        return self.root / "metrics" / f"{name}.json"

    def timing(self, name: str) -> Path:
        """``metrics/timing/<name>.json``: a stage's timing keys (git-ignored)."""
        return self.root / "metrics" / "timing" / f"{name}.json"

    def detail(self, name: str) -> Path:
        """``metrics/<name>.csv``: a detail table (``download_classes``, ...)."""
        return self.root / "metrics" / f"{name}.csv"

    @property
    def summary(self) -> Path:
        """Everything the report shows (``metrics/evaluate.json`` holds its headline)."""
        return self.reports / "summary.json"

    def model(self, role: str) -> Path:
        return self.root / "models" / f"{role}.pt"

    def checkpoint(self, role: str) -> Path:
        """``.checkpoints/train_<role>.pt``: the per-epoch checkpoint of a training stage
        (ignored by git and DVC; removed when the stage finishes)."""
        return self.root / ".checkpoints" / f"train_{role}.pt"

    def plots(self, name: str) -> Path:
        """A stage's plot folder (DVCLive's folder for the training stages)."""
        return self.root / "plots" / name

    def confusion(self, role: str) -> Path:
        """The confusion-matrix data DVCLive writes for a training stage."""
        return self.plots(f"train_{role}") / "plots" / "sklearn" / "confusion_matrix.json"

    def adversarial(self, attack: str, model: str) -> Path:
        return self.root / "data" / "adversarial" / f"{attack}_{model}.pt"

    def attack_plots(self, attack: str, model: str) -> Path:
        return self.plots(f"attack_{attack}_{model}")

    def attack_curve(self, attack: str, model: str) -> Path:
        return self.attack_plots(attack, model) / CURVE_FILES[attack]

    def examples(self, attack: str, model: str) -> Path:
        return self.attack_plots(attack, model) / "examples.png"

    @property
    def squeeze_plots(self) -> Path:
        return self.plots("squeeze_detect")

    def roc(self, attack: str) -> Path:
        return self.squeeze_plots / f"roc_{attack}.csv"

    @property
    def score_histogram(self) -> Path:
        return self.squeeze_plots / "score_histogram.csv"

    @property
    def scores_png(self) -> Path:
        return self.squeeze_plots / "scores.png"
