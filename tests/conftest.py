"""Shared fixtures: a Kaggle-like folder, a small trained classifier, the tiny DVC pipeline."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.images import write_class_folders
from helpers.toy_data import toy_images, toy_model

# OpenMP threads that wait for work sleep instead of spinning. The xdist workers and the
# tiny pipeline's stages share two cores: spinning threads burned as much CPU time again as
# the tests used (24 min of user time for 12 min of pytest). The results do not change:
# the thread count stays torch's own. Set before torch starts its OpenMP runtime, and
# inherited by every stage the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A test run started in the background of a non-interactive shell (`(make test &)`) inherits
# SIGINT ignored, and so would every stage the tests start: the Ctrl-C test could never
# interrupt one. A handler set here resets to the default in each child at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class TinyRuns:
    """Two from-scratch runs of the tiny pipeline: the first repo, its `dvc repro` output,
    each run's output files (path -> bytes), and the second repo (only the remote test
    touches it)."""

    repo: Path
    output: str
    snapshots: tuple[dict[str, bytes], ...]
    second: Path


@pytest.fixture
def italian_raw_img(tmp_path: Path) -> Path:
    """A Kaggle-like dataset folder: raw-img/<italian>/..., translate.py beside it."""
    root = tmp_path / "animals10"
    write_class_folders(root / "raw-img", {"cane": 4, "gatto": 3, "ragno": 5})
    (root / "translate.py").write_text("translate = {}\n")
    return root


@pytest.fixture(scope="session")
def toy_classifier():
    """A small trained CNN (eval mode) with held-out images it mostly classifies right."""
    import torch

    from modelrobustness.training.fit import fit

    from helpers.configs import fit_config

    x, y = toy_images(512, seed=0)
    vx, vy = toy_images(128, seed=1)
    with torch.random.fork_rng():
        model = toy_model(num_classes=4)
    fit(model, x, y, vx, vy, config=fit_config(epochs=4, batch_size=32, lr=0.05), seed=0)
    tx, ty = toy_images(200, seed=2)
    return model.eval(), tx, ty


@pytest.fixture(scope="session")
def tiny_pipelines(tmp_path_factory) -> TinyRuns:
    """The project with tiny parameters in two temporary git repos, each after one
    `dvc repro` from scratch, run at the same time; each repo's pipeline outputs are
    snapshotted at once, before any test changes the first one."""
    from helpers.pipeline_repo import make_tiny_repo, output_snapshot, run_together

    base = tmp_path_factory.mktemp("pipeline")
    repos = [make_tiny_repo(base / "repo"), make_tiny_repo(base / "again")]
    outputs = run_together(repos, "dvc", "repro")
    return TinyRuns(
        repo=repos[0],
        output=outputs[0],
        snapshots=tuple(output_snapshot(r) for r in repos),
        second=repos[1],
    )


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_pipelines: TinyRuns) -> tuple[Path, str]:
    """The first tiny repo after its `dvc repro`: (repo, the command's output). Shared by
    the end-to-end and the command-line tests."""
    return tiny_pipelines.repo, tiny_pipelines.output


# the modules that use the tiny pipeline: one xdist worker runs them all, so the session
# fixture is built once (pytest-xdist 3.8's `--dist loadgroup` ignored xdist_group marks
# here: checked on a two-module example)
TINY_PIPELINE_MODULES = (
    "tests/cli/test_cli.py",
    "tests/pipeline/test_pipeline_e2e.py",
    "tests/pipeline/test_resume_e2e.py",
)


# modules whose tests share an expensive module-scoped fixture: each runs on one worker
TOGETHER_MODULES = ("tests/pipeline/test_distributed.py",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under pytest-xdist (`make test` runs `-n auto`): every test is its own unit of work,
    except the tiny-pipeline modules, which go to one worker together, and each module of
    TOGETHER_MODULES, which goes to one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class TinyPipelineTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(TINY_PIPELINE_MODULES):
                return "tiny_pipeline"
            if nodeid.startswith(TOGETHER_MODULES):  # one module-scoped fixture each
                return nodeid.split("::")[0]
            return nodeid

    return TinyPipelineTogether(config, log)
