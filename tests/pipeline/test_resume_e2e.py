"""A training stage on the tiny pipeline: killed with SIGKILL mid-epoch and started again with
`dvc repro`, it continues from its last checkpoint and ends byte-identical to an
uninterrupted run; Ctrl-C and a diverging loss end it with one message and its previous
outputs intact; a second `dvc repro` beside a running one gets DVC's lock error."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers.pipeline_repo import (
    WAIT_SECONDS,
    checkpoint_epoch,
    env,
    run,
    signal_after_checkpoint,
    start,
)

STAGE = "train_baseline"
# what the stage writes, compared byte for byte (its timing keys live in metrics/timing/)
OUTPUTS = (
    "metrics/train_baseline.json",
    "metrics/train_baseline_classes.csv",
    "models/baseline.pt",
    "plots/train_baseline/metrics.json",
    "plots/train_baseline/plots/metrics/val_accuracy.tsv",
    "plots/train_baseline/plots/metrics/train_loss.tsv",
    "plots/train_baseline/plots/sklearn/confusion_matrix.json",
)

pytestmark = pytest.mark.e2e


def _outputs(repo: Path) -> dict[str, bytes]:
    return {name: (repo / name).read_bytes() for name in OUTPUTS}


def _set_params(repo: Path, **sections: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _temporary_files(repo: Path) -> list[str]:
    return [
        str(p.relative_to(repo))
        for folder in ("metrics", "models", "plots")
        for p in (repo / folder).rglob("*")
        if p.name.endswith(".tmp")
    ]


@pytest.fixture(scope="module")
def trained(tiny_pipeline: tuple[Path, str], tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the tiny pipeline whose baseline trains 4 epochs of about a second each
    (long enough to be stopped inside one), trained once: (repo, its outputs)."""
    repo = tmp_path_factory.mktemp("resume") / "repo"
    source = tiny_pipeline[0]
    # without the 10,000 downloaded images and their cache copies (half the copy's time):
    # `dvc repro -s train_baseline` reads data/prepared only
    skipped = {source / "data" / "raw", source / ".dvc" / "cache"}
    shutil.copytree(
        source,
        repo,
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if Path(folder) / n in skipped],
    )
    _set_params(repo, train={"epochs": 4}, model={"width": 32})
    run(repo, "dvc", "repro", "-s", STAGE)
    assert not (repo / ".checkpoints" / f"{STAGE}.pt").exists(), "a finished stage keeps none"
    return repo, _outputs(repo)


def test_a_killed_training_stage_resumes_and_ends_as_an_uninterrupted_run(trained) -> None:
    repo, uninterrupted = trained
    checkpoint = repo / ".checkpoints" / f"{STAGE}.pt"
    # a first run: no outputs yet (a killed run keeps the previous ones, and DVC would
    # rightly call them up to date)
    for name in (
        "models/baseline.pt",
        "metrics/train_baseline.json",
        "metrics/train_baseline_classes.csv",
    ):
        (repo / name).unlink()
    shutil.rmtree(repo / "plots" / STAGE)
    stage = start(repo, "dvc", "repro", "-s", STAGE)
    signal_after_checkpoint(repo, STAGE, stage, 2, signal.SIGKILL)  # DVC and the stage: a crash
    stage.communicate()
    assert checkpoint_epoch(checkpoint) in (2, 3)

    output = run(repo, "dvc", "repro", "-s", STAGE)
    assert "resuming from checkpoint" in output, output
    assert not checkpoint.exists()
    assert not _temporary_files(repo)
    resumed = _outputs(repo)
    for name in OUTPUTS:
        assert resumed[name] == uninterrupted[name], f"{name} differs after the resumption"


def test_ctrl_c_ends_a_training_stage_cleanly_and_keeps_its_outputs(trained) -> None:
    repo, before = trained
    stage = start(repo, sys.executable, f"stages/{STAGE}.py")
    signal_after_checkpoint(repo, STAGE, stage, 1, signal.SIGINT)
    _, err = stage.communicate(timeout=WAIT_SECONDS)
    assert stage.returncode == 130, err
    assert f"{STAGE}: error: interrupted (Ctrl-C)" in err and "Traceback" not in err, err
    assert _outputs(repo) == before and not _temporary_files(repo)
    (repo / ".checkpoints" / f"{STAGE}.pt").unlink()


def test_a_diverging_loss_stops_the_stage_at_once_naming_train_lr(trained) -> None:
    repo, before = trained
    params = (repo / "params.yaml").read_text()
    try:
        _set_params(repo, train={"lr": 1e30, "schedule": "constant"})
        result = subprocess.run(
            [sys.executable, f"stages/{STAGE}.py"],
            cwd=repo,
            env=env(),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        (repo / "params.yaml").write_text(params)
    assert result.returncode == 2, result.stderr
    assert "at epoch 1" in result.stderr and "lower train.lr (now 1e+30)" in result.stderr
    assert "Traceback" not in result.stderr
    assert _outputs(repo) == before and not _temporary_files(repo)


def test_a_second_dvc_repro_gets_dvcs_lock_error(trained) -> None:
    import zc.lockfile

    repo, _ = trained
    lock = zc.lockfile.LockFile(str(repo / ".dvc" / "tmp" / "lock"))  # as a running dvc does
    try:
        result = subprocess.run(
            ["dvc", "repro"], cwd=repo, env=env(), capture_output=True, text=True, check=False
        )
    finally:
        lock.close()
    assert result.returncode != 0
    assert "Unable to acquire lock" in result.stderr, result.stderr
