"""Checkpoints: weights and config in plain types, read back with ``weights_only=True``."""

from __future__ import annotations

import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..utils.io import atomic_write_bytes
from .classifier import Classifier, ModelConfig

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | os.PathLike, model: Classifier,
                    extra: dict[str, Any] | None = None) -> None:
    """Save weights and config (plain types only, so ``weights_only=True`` can read it)."""
    config = asdict(model.config)
    config["mean"] = [float(v) for v in config["mean"]]
    config["std"] = [float(v) for v in config["std"]]
    config["class_names"] = list(config["class_names"])
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} not found: run `dvc repro` first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a ModelRobustness checkpoint (format "
                         f"{CHECKPOINT_FORMAT})")
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a saved classifier in eval mode: float [0, 1] N x C x H x W in, logits out."""
    payload = load_checkpoint(path)
    config = ModelConfig(**payload["config"])
    model = Classifier(config)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()
