"""Shared fixtures: a Kaggle-like folder, a small trained classifier, the tiny DVC pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.images import write_class_folders
from helpers.toy_data import toy_images


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

    from modelrobustness.models import ModelConfig, build_model
    from modelrobustness.training.fit import fit

    from helpers.configs import fit_config

    x, y = toy_images(512, seed=0)
    vx, vy = toy_images(128, seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(
            ModelConfig(
                arch="vgg_small",
                num_classes=4,
                in_channels=1,
                image_size=12,
                mean=[0.3],
                std=[0.3],
                width=4,
            )
        )
    fit(model, x, y, vx, vy, config=fit_config(epochs=4, batch_size=32, lr=0.05), seed=0)
    tx, ty = toy_images(200, seed=2)
    return model.eval(), tx, ty


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> tuple[Path, str]:
    """The project with tiny parameters in a temporary git repo after one `dvc repro`:
    (repo, the command's output). Shared by the end-to-end and the command-line tests."""
    from helpers.pipeline_repo import make_tiny_repo, run

    repo = make_tiny_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    return repo, run(repo, "dvc", "repro")
