"""What the command line reads from a project folder after ``dvc repro``: its parameters,
its trained models, the calibrated detector, and a user's image prepared for a model.
torch is imported by the functions that need it, so ``--help`` and ``report`` stay quick."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipeline.params import ParamsError, load_params
from ..pipeline.paths import ProjectPaths

if TYPE_CHECKING:
    import torch

    from ..defenses.squeezing import SqueezeDetector
    from ..models.classifier import Classifier

MODEL_ROLES = ("baseline", "teacher", "student")


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback."""


def project_params(paths: ProjectPaths) -> dict[str, Any]:
    if not paths.params.is_file():
        raise CLIError(f"{paths.params} not found: run in the project folder or pass "
                       "--project DIR")
    return load_params(paths.params)


def project_device(paths: ProjectPaths, option: str | None) -> torch.device:
    """``--device`` when given, else the project's ``device`` parameter."""
    from ..pipeline.params import device
    from ..utils.checks import InvalidValue
    from ..utils.device import resolve_device

    if option is None:
        try:
            return device(project_params(paths))
        except ParamsError as exc:
            raise CLIError(f"{paths.params}: {exc}") from None
    try:
        return resolve_device(option)
    except InvalidValue as exc:
        raise CLIError(f"--device is {exc.value!r}; expected {exc.expected}") from None


def load_classifier(paths: ProjectPaths, spec: str, device: torch.device) -> Classifier:
    """A role's model (``baseline``, ``teacher``, ``student``) or a checkpoint path."""
    from ..models.checkpoint import load_model

    path = paths.model(spec) if spec in MODEL_ROLES else Path(spec)
    if not path.is_file():
        hint = (": run `dvc repro` first to train the models (or pass --model PATH)"
                if spec in MODEL_ROLES else "")
        raise CLIError(f"model checkpoint {path} not found{hint}")
    try:
        return load_model(path, device=device)
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError, KeyError, TypeError,
            ValueError) as exc:  # what torch.load(weights_only=True) raises on other files
        # (torch's own message suggests weights_only=False: not advice to pass on)
        raise CLIError(f"{path} is not a readable ModelRobustness checkpoint "
                       f"({type(exc).__name__})") from None


def load_user_image(path: str, model: Classifier, params: dict[str, Any]) -> torch.Tensor:
    """``path`` decoded, converted and resized as the split stage prepares the data, for
    ``model``'s input (its size and channels; ``data.aspect`` of params)."""
    from ..data.images import load_image
    from ..pipeline.params import get

    config = model.config
    return load_image(path, size=config.image_size, channels=config.in_channels,
                      aspect=get(params, "data.aspect"))


def calibrated_detector(paths: ProjectPaths, baseline: Classifier) -> SqueezeDetector:
    """The squeeze_detect stage's detector: the baseline, the selected squeezers and the
    calibrated threshold."""
    from ..defenses.squeezing import SqueezeDetector
    from ..pipeline.artifacts.metrics import read_metrics

    try:
        metrics = read_metrics(paths, "squeeze_detect")
    except FileNotFoundError:
        raise CLIError(f"{paths.metrics('squeeze_detect')} not found: run `dvc repro` first "
                       "to calibrate the detector") from None
    return SqueezeDetector(baseline, metrics["selected_squeezers"],
                           threshold=float(metrics["threshold"]))


def prediction(model: Classifier, x: torch.Tensor) -> tuple[str, float]:
    """The class name and softmax confidence of one image."""
    import torch

    with torch.no_grad():
        probs = model(x.to(next(model.parameters()).device)).softmax(dim=1)[0].cpu()
    index = int(probs.argmax())
    return model.config.class_names[index], float(probs[index])


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
                     .rstrip() for r in [header, *rows])
