"""Stages in two processes. Training (``train.nproc: 2``): the stage starts torchrun itself,
DistributedDataParallel trains over gloo on the CPU, rank 0 alone writes, and the metrics
are valid, count every training image once and are the same bytes on a second run.
Attacks (``attack.nproc: 2``): the processes share the batches and write what one process
writes, byte for byte."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers.configs import params
from helpers.imports import ROOT
from helpers.pipeline_repo import checkpoint_epoch, env, signal_after_checkpoint, start

# 39 images per class: an odd number of training images (273) and validation images (39),
# so the sampler pads the last batch and validation splits unevenly between two processes
TINY = {
    "split.max_per_class": 39,
    "model.width": 8,
    "train.epochs": 3,
    "train.batch_size": 32,
    "train.nproc": 2,
}


def _stage(project: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{name}.py")],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )


def _attack_outputs(project: Path) -> dict[str, bytes]:
    files = sorted((project / "metrics").glob("attack_*_baseline.json"))
    files += sorted((project / "data/adversarial").glob("*_baseline.pt"))
    files += sorted(
        p for p in (project / "plots").rglob("*") if "attack_" in str(p) and p.is_file()
    )
    assert len(files) >= 9, files
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in files}


def _set(project: Path, **values: object) -> None:
    params_file = project / "params.yaml"
    values_now = yaml.safe_load(params_file.read_text())
    for key, value in values.items():
        section, *inner, leaf = key.split("__")
        target = values_now[section]
        for name in inner:
            target = target[name]
        target[leaf] = value
    params_file.write_text(yaml.safe_dump(values_now, sort_keys=False))


def _outputs(project: Path) -> dict[str, bytes]:
    files = [project / "metrics/train_baseline.json", project / "models/baseline.pt"]
    files += sorted((project / "plots/train_baseline").rglob("*.*"))
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder with the tiny parameters and its prepared data."""
    project = tmp_path_factory.mktemp("distributed")
    values = params()
    for key, value in TINY.items():
        section, _, leaf = key.partition(".")
        values[section][leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    for name in ("download", "split"):
        result = _stage(project, name)
        assert result.returncode == 0, result.stderr
    return project


def test_two_processes_train_with_valid_deterministic_metrics(project: Path) -> None:
    first = _stage(project, "train_baseline")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("baseline: test accuracy") == 1, first.stdout  # rank 0 only
    assert "Traceback" not in first.stderr
    assert not (project / ".checkpoints/train_baseline.pt").exists()  # the finished run's
    outputs = _outputs(project)

    split = json.loads((project / "metrics/split.json").read_text())
    metrics = json.loads((project / "metrics/train_baseline.json").read_text())
    train_images = split["train"]
    assert train_images % 2 == 1  # the last global batch is padded
    assert metrics["train_images"] == train_images and metrics["epochs"] == 3
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and 0.0 <= metrics["val_accuracy"] <= 1.0
    # every epoch's training accuracy is a count of right answers over the training images
    # themselves: the rows the sampler repeats to pad the last batch are not counted twice
    curves = project / "plots/train_baseline/plots/metrics"
    with (curves / "train_accuracy.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 3
    for row in rows:
        right = float(row["train_accuracy"]) * train_images
        assert abs(right - round(right)) < 1e-3, row
    with (curves / "val_accuracy.tsv").open() as handle:
        val = [
            float(r["val_accuracy"]) * split["val"] for r in csv.DictReader(handle, delimiter="\t")
        ]
    assert all(abs(v - round(v)) < 1e-3 for v in val)  # the gathered logits, each image once

    again = _stage(project, "train_baseline")
    assert again.returncode == 0, again.stderr
    assert _outputs(project) == outputs  # the same bytes for the same seed

    # killed (SIGKILL, every process) after the second epoch's checkpoint, started again:
    # it resumes, each process from its own generator, and ends as the uninterrupted run
    killed = start(project, sys.executable, str(ROOT / "stages/train_baseline.py"))
    signal_after_checkpoint(project, "train_baseline", killed, 2, signal.SIGKILL)
    killed.communicate()
    assert checkpoint_epoch(project / ".checkpoints/train_baseline.pt") in (2, 3)
    resumed = _stage(project, "train_baseline")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("resuming from checkpoint") == 1, resumed.stderr  # rank 0
    assert _outputs(project) == outputs

    # adversarial training (TRADES: a perturbation and an extra loss term per batch) from
    # that baseline, in two processes
    _set(project, adversarial__method="trades", adversarial__val_samples=16)
    adversarial = _stage(project, "train_adversarial")
    assert adversarial.returncode == 0, adversarial.stderr
    record = json.loads((project / "metrics/train_adversarial.json").read_text())
    assert record["method"] == "trades" and record["train_images"] == train_images
    assert 0.0 <= record["val_robust_accuracy"] <= record["val_subset_accuracy"] <= 1.0


def test_a_batch_size_the_processes_cannot_share_is_one_message(project: Path) -> None:
    values = yaml.safe_load((project / "params.yaml").read_text())
    values["train"]["batch_size"] = 33
    odd = project / "odd"
    odd.mkdir()
    (odd / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    result = _stage(odd, "train_baseline")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "train_baseline: error: parameter train.batch_size is 33; expected a multiple of nproc = 2"
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_two_processes_attack_as_one_byte_for_byte(project: Path, tmp_path: Path) -> None:
    """PGD, AutoAttack and DDN of stage attack@baseline with attack.nproc 1, then 2: the
    same metrics records, adversarial sets and plots (timing lives in metrics/timing/)."""
    shutil.copytree(project, tmp_path / "p", ignore=shutil.ignore_patterns("metrics", "plots"))
    work = tmp_path / "p"
    _set(work, train__nproc=1)
    trained = _stage(work, "train_baseline")
    assert trained.returncode == 0, trained.stderr
    _set(  # 18 attacked images in batches of 4: five batches to share out
        work,
        attack__samples=20,
        attack__batch_size=4,
        attack__pgd__steps=5,
        attack__pgd__step_size=0.05,
        attack__pgd__eps_list=[0.05, 0.1],
        attack__ddn__steps=10,
        attack__autoattack__steps=5,
        attack__autoattack__square_queries=20,
    )

    def attack(nproc: int) -> dict[str, bytes]:
        _set(work, attack__nproc=nproc)
        result = subprocess.run(
            [sys.executable, str(ROOT / "stages/attack.py"), "baseline"],
            cwd=work,
            env=env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("pgd@baseline:") == 1, result.stdout  # rank 0 only
        return _attack_outputs(work)

    one = attack(1)
    record = json.loads(one["metrics/attack_pgd_baseline.json"])
    assert 0 < record["robust_accuracy"] < record["clean_accuracy"]  # some fooled, some not
    assert attack(2) == one
