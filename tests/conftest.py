"""Shared fixtures: small image files of every kind, written by the tests themselves."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def random_rgb(seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """A random RGB image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def good_image_bytes(seed: int) -> bytes:
    return encode(random_rgb(seed), "PNG")


# name -> (bytes, expected skip reason); cached: the bomb takes a moment to encode
@functools.lru_cache(maxsize=1)
def bad_corpus() -> dict[str, tuple[bytes, str]]:
    png = encode(random_rgb(100, (64, 64)), "PNG")
    jpg = encode(random_rgb(101, (64, 64)), "JPEG", quality=90)
    rng = np.random.default_rng(7)
    garbled = png[:100] + bytes(rng.integers(0, 256, len(png) - 100, dtype=np.uint8))
    bomb = encode(Image.new("1", (10_000, 10_000)), "PNG")  # 100 Mpx, 12 kB on disk
    return {
        "zero.jpg": (b"", "empty"),
        "zero2.png": (b"", "empty"),
        "notes.txt": (b"this is not an image\n", "not_image"),
        "random.jpg": (bytes(rng.integers(0, 256, 500, dtype=np.uint8)), "not_image"),
        "half.png": (png[: len(png) // 2], "truncated"),
        "half.jpg": (jpg[: len(jpg) // 2], "truncated"),
        "garbled.png": (garbled, "corrupt"),
        "bomb.png": (bomb, "decompression_bomb"),
    }


def write_class_folders(root: Path, layout: dict[str, int], *, seed: int = 0) -> None:
    """``root/<folder>/img<i>.png`` with ``layout[folder]`` distinct random images each."""
    counter = seed
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (root / folder / f"img{i:03d}.png").write_bytes(good_image_bytes(counter))
            counter += 1


@pytest.fixture
def italian_raw_img(tmp_path: Path) -> Path:
    """A Kaggle-like dataset folder: raw-img/<italian>/..., translate.py beside it."""
    root = tmp_path / "animals10"
    write_class_folders(root / "raw-img", {"cane": 4, "gatto": 3, "ragno": 5})
    (root / "translate.py").write_text("translate = {}\n")
    return root


def toy_images(n: int, *, seed: int, size: int = 12, noise: float = 0.5):
    """Four classes of noisy textures: horizontal bars, vertical bars, checkerboard, blob."""
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    rows = torch.arange(size)[:, None].expand(size, size)
    cols = torch.arange(size)[None, :].expand(size, size)
    centre = ((rows - size / 2).abs() < 3) & ((cols - size / 2).abs() < 3)
    patterns = torch.stack([rows % 2 == 0, cols % 2 == 0, (rows + cols) % 2 == 0, centre])
    x = 0.25 * patterns[y].float()[:, None] + noise * torch.rand(n, 1, size, size, generator=g)
    return x.clamp(0, 1), y


@pytest.fixture(scope="session")
def toy_classifier():
    """A small trained CNN (eval mode) with held-out images it mostly classifies right."""
    import torch

    from modelrobustness.models import ModelConfig, build_model
    from modelrobustness.training import FitConfig, fit

    x, y = toy_images(512, seed=0)
    vx, vy = toy_images(128, seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(ModelConfig(arch="vgg_small", num_classes=4, in_channels=1,
                                        image_size=12, mean=[0.3], std=[0.3], width=4))
    fit(model, x, y, vx, vy, config=FitConfig(epochs=4, batch_size=32, lr=0.05), seed=0)
    tx, ty = toy_images(200, seed=2)
    return model.eval(), tx, ty


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> tuple[Path, str]:
    """The project with tiny parameters in a temporary git repo after one `dvc repro`:
    (repo, the command's output). Shared by the end-to-end and the command-line tests."""
    from pipeline_repo import make_tiny_repo, run

    repo = make_tiny_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    return repo, run(repo, "dvc", "repro")
