"""What the command line reads from a project folder after ``dvc repro``: its parameters,
its trained models, the calibrated detector, and a user's image prepared for a model.
torch is imported by the functions that need it, so ``--help`` and ``report`` stay quick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipeline.params import ParamsError, load_params
from ..pipeline.paths import ProjectPaths
from ..reporting.summary import TRAINED_MODELS
from ..utils.errors import UserError
from ..utils.io import file_sha256

if TYPE_CHECKING:
    import torch

    from ..data.prepared import SourceFacts
    from ..defenses.squeezing import SqueezeDetector
    from ..models.classifier import Classifier

MODEL_ROLES = TRAINED_MODELS


class CLIError(UserError):
    """A problem the user can fix; printed without a traceback."""


def project_params(paths: ProjectPaths) -> dict[str, Any]:
    if not paths.params.is_file():
        raise CLIError(f"{paths.params} not found: run in the project folder or pass --project DIR")
    return load_params(paths.params)


def project_device(paths: ProjectPaths, option: str | None) -> torch.device:
    """``--device`` when given, else the project's ``device`` parameter; a device this
    machine lacks is an error saying what it has."""
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


def model_path(paths: ProjectPaths, spec: str) -> Path:
    """A role's checkpoint (``baseline``, ``teacher``, ``student``) or a path to one."""
    path = paths.model(spec) if spec in MODEL_ROLES else Path(spec)
    if not path.is_file():
        if spec in MODEL_ROLES:
            raise CLIError(
                f"model checkpoint {path} not found: run `dvc repro` first to "
                "train the models (or pass --model PATH)"
            )
        raise CLIError(
            f"--model is {spec!r}; expected one of {', '.join(MODEL_ROLES)} or the "
            f"path of a checkpoint ({path} "
            f"{'is a folder' if path.is_dir() else 'does not exist'})"
        )
    return path


@dataclass
class LoadedModel:
    """A classifier as the command line uses it: the network, where it came from, and
    what its checkpoint says of its training data (None: nothing recorded)."""

    network: Classifier
    path: Path
    name: str
    domain: dict[str, Any] | None


def load_classifier(paths: ProjectPaths, spec: str, device: torch.device) -> LoadedModel:
    """``--model``: a role or a checkpoint path; a file that is not a checkpoint of this
    project is answered with what it is."""
    from ..models.checkpoint import NotACheckpoint, read_model

    path = model_path(paths, spec)
    try:
        network, extra = read_model(path, device=device)
    except NotACheckpoint as exc:
        raise CLIError(str(exc)) from None
    domain = extra.get("domain")
    return LoadedModel(
        network=network, path=path, name=spec, domain=domain if isinstance(domain, dict) else None
    )


def image_limits(paths: ProjectPaths, params: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's limits and preparation of images (``data.max_pixels``, its file-size
    limit, ``data.aspect``), for :func:`read_user_image`."""
    from ..data import images
    from ..pipeline.download import max_pixels
    from ..pipeline.params import checked
    from ..pipeline.split import DATA_KEYS as SPLIT_DATA_KEYS

    try:
        return {
            "max_pixels": max_pixels(params),
            "max_bytes": images.MAX_FILE_BYTES,
            "aspect": checked(params, "data.aspect", SPLIT_DATA_KEYS["aspect"]),
        }
    except ParamsError as exc:
        raise CLIError(f"{paths.params}: {exc}") from None


def read_user_image(
    path: str | Path, model: LoadedModel, limits: dict[str, Any]
) -> tuple[torch.Tensor, SourceFacts]:
    """``path`` decoded, converted and resized as the split stage prepares the data, for
    ``model``'s input (its size and channels), within the pipeline's limits; and the facts
    of the source image."""
    from ..data.images import read_image

    config = model.network.config
    return read_image(path, size=config.image_size, channels=config.in_channels, **limits)


@dataclass
class DetectorChoice:
    """The squeeze_detect stage's detector when it applies to the model (else None), and
    why it was left out."""

    detector: SqueezeDetector | None
    note: str | None


def calibrated_detector(paths: ProjectPaths, model: LoadedModel) -> DetectorChoice:
    """The detector of ``squeeze_detect`` (its squeezers and calibrated threshold) when it
    was calibrated on exactly ``model``'s checkpoint; else None and the reason."""
    from ..defenses.squeezing import SqueezeDetector
    from ..pipeline.artifacts.metrics import read_metrics

    record_path = paths.metrics("squeeze_detect")
    if not record_path.is_file():
        return DetectorChoice(
            None,
            f"detector skipped: {record_path} not found (run `dvc "
            "repro squeeze_detect` to calibrate it)",
        )
    try:
        record = read_metrics(paths, "squeeze_detect")
        squeezers, threshold = list(record["selected_squeezers"]), float(record["threshold"])
        calibrated_on, role = str(record["model_sha256"]), str(record["model"])
        detector = SqueezeDetector(model.network, squeezers, threshold=threshold)
    except (ValueError, KeyError, TypeError):  # InvalidValue too: a ValueError
        return DetectorChoice(
            None,
            f"detector skipped: {record_path} is not a record of the "
            "current squeeze_detect stage (rerun `dvc repro`)",
        )
    if file_sha256(model.path) != calibrated_on:
        return DetectorChoice(
            None,
            f"detector skipped: it was calibrated on "
            f"{paths.model(role)} (sha256 {calibrated_on[:12]}...), "
            f"not on {model.path}",
        )
    return DetectorChoice(detector, None)


def probabilities(model: Classifier, x: torch.Tensor) -> torch.Tensor:
    """Softmax outputs of a batch (on the CPU)."""
    import torch

    with torch.no_grad():
        return model(x.to(next(model.parameters()).device)).softmax(dim=1).cpu()


def prediction(model: Classifier, x: torch.Tensor) -> tuple[str, float]:
    """The class name and softmax confidence of one image."""
    probs = probabilities(model, x)[0]
    index = int(probs.argmax())
    return model.config.class_names[index], float(probs[index])


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )
