"""Where the training stages keep their per-epoch checkpoints (``.checkpoints/``, ignored by
git and DVC) and the fingerprint that ties a checkpoint to its run: the parameters, the
resolved device, the prepared data, the soft labels or starting weights the stage trains
from, and the package's code. A checkpoint of any other run is never resumed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..training.resume import Resumption
from ..utils.io import file_sha256, json_text
from .paths import ProjectPaths

PACKAGE = Path(__file__).resolve().parents[1]
# keys no result depends on (tested; they are no DVC dependency either): a checkpoint
# written with another value is still this run's
INVARIANT_KEYS: tuple[tuple[str, str], ...] = (("train", "loader_workers"), ("attack", "nproc"))


def _result_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without :data:`INVARIANT_KEYS`."""
    out = dict(params)
    for section, key in INVARIANT_KEYS:
        if isinstance(out.get(section), Mapping) and key in out[section]:
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


def _code_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted(PACKAGE.rglob("*.py")):
        digest.update(source.relative_to(PACKAGE).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _tensor_digest(digest: Any, name: str, tensor: torch.Tensor) -> None:
    digest.update(name.encode())
    digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())


def resumption(
    role: str,
    params: Mapping[str, Any],
    *,
    paths: ProjectPaths,
    device: torch.device,
    train_targets: torch.Tensor | None = None,
    initial: nn.Module | None = None,
) -> Resumption:
    """The checkpoint of stage ``train_<role>`` (``.checkpoints/train_<role>.pt``) and its
    key: the hex SHA-256 of the run's parameters (but those no result depends on), device
    type, prepared data, soft labels or starting weights, and code."""
    digest = hashlib.sha256()
    run = {"role": role, "params": _result_params(params), "device": device.type}
    digest.update(json_text(run).encode())
    for path in sorted(p for p in paths.prepared.rglob("*") if p.is_file()):
        digest.update(path.relative_to(paths.prepared).as_posix().encode())
        digest.update(file_sha256(path).encode())
    if train_targets is not None:
        _tensor_digest(digest, "train_targets", train_targets)
    if initial is not None:
        for name, tensor in initial.state_dict().items():
            _tensor_digest(digest, f"initial.{name}", tensor)
    digest.update(_code_digest().encode())
    return Resumption(path=paths.checkpoint(role), key=digest.hexdigest())
