"""Per-epoch checkpoints of the fit loop, so that a killed training run continues where it
stopped and ends exactly as an uninterrupted one.

A checkpoint holds everything the next epoch depends on: the model's, the optimizer's and
the schedule's state, each process's fit generator and torch's global RNG states (CPU and
CUDA; one per process of a ``torchrun`` group, written by rank 0), the
epochs done with their stats (the DVCLive step is their count), and the kept epoch's weights
so far. It is written atomically after every epoch and read with ``weights_only=True``. A
checkpoint is resumed only when its ``key`` (the caller's fingerprint of everything that
decides the run: parameters, data, starting weights, code) is the one asked for; any other
file is ignored with a message, never trusted.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..utils.io import atomic_write_bytes

FORMAT = 2  # bumped when the checkpoint's layout changes: older files are ignored


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class Resumption:
    """Where a fit keeps its checkpoint (``path``) and the run it belongs to (``key``).

    ``notify`` receives the one-line messages about resuming or ignoring a checkpoint
    (default: standard error)."""

    path: Path
    key: str
    notify: Callable[[str], None] = field(default=_say, compare=False)


def rng_states() -> dict[str, Any]:
    """torch's global RNG states (CPU, and every CUDA device when CUDA is initialised)."""
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(resumption: Resumption, state: dict[str, Any]) -> None:
    """Write ``state`` with the run's key, atomically (a kill leaves the previous file)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "key": resumption.key, **state}, buffer)
    atomic_write_bytes(resumption.path, buffer.getvalue())


def load_checkpoint(resumption: Resumption) -> dict[str, Any] | None:
    """The saved state of this run, or None (no file, or one that is unreadable, of another
    format or of another run: ignored, and said so)."""
    path = resumption.path
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: start over, never trust it
        resumption.notify(
            f"ignoring checkpoint {path}: unreadable ({type(exc).__name__}); "
            "training starts from the first epoch"
        )
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        resumption.notify(
            f"ignoring checkpoint {path}: not a checkpoint of this version; "
            "training starts from the first epoch"
        )
        return None
    if state.get("key") != resumption.key:
        resumption.notify(
            f"ignoring checkpoint {path}: it was written for other parameters, "
            "data or code; training starts from the first epoch"
        )
        return None
    resumption.notify(f"resuming from checkpoint {path} after epoch {state['epoch']}")
    return state


def remove_checkpoint(resumption: Resumption) -> None:
    """Delete the run's checkpoint (a finished stage leaves none behind)."""
    with contextlib.suppress(FileNotFoundError):
        resumption.path.unlink()
