"""``modelrobustness predict IMAGE|FOLDER...``: class and confidence of each image, the
detector's score and verdict when it applies to the model, and a warning for images far from
the model's training data; as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipeline.paths import ProjectPaths
from ..utils.errors import UserError
from .project import (
    CLIError,
    LoadedModel,
    calibrated_detector,
    image_limits,
    load_classifier,
    probabilities,
    project_device,
    project_params,
    read_user_image,
    text_table,
)

if TYPE_CHECKING:
    from ..defenses.squeezing import SqueezeDetector

# files taken from a folder (a file named on the command line is read whatever its name)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FORMATS = ("table", "json", "csv")
BATCH = 64  # images classified at once


@dataclass
class Inputs:
    """The image files to classify, in order, and what the folders held besides."""

    files: list[Path] = field(default_factory=list)
    skipped: int = 0  # files in the folders whose name is not an image's


def collect_images(arguments: Sequence[str]) -> Inputs:
    """Files as given; folders searched recursively (symbolic links to folders not
    followed) for files with an image suffix, in sorted order."""
    inputs = Inputs()
    for argument in arguments:
        path = Path(argument)
        if not path.is_dir():
            inputs.files.append(path)
            continue
        found = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for name in names:
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    found.append(Path(folder) / name)
                else:
                    inputs.skipped += 1
        inputs.files.extend(sorted(found))
    return inputs


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _far_note(model: LoadedModel, warnings: list[str]) -> str:
    names = model.network.config.class_names
    return (
        "far from the training data: " + "; ".join(warnings) + f". The model answers one "
        f"of its {len(names)} classes whatever the image shows, so its confidence says "
        "little here"
    )


def classify(
    model: LoadedModel,
    files: Sequence[Path],
    *,
    detector: SqueezeDetector | None,
    limits: dict[str, Any],
) -> list[dict[str, Any]]:
    """One record per file: class, confidence, detector score and verdict (left out without
    a detector), warnings about the training domain, or the error that stopped it. A
    progress bar on standard error when it is a terminal."""
    import torch
    from tqdm import tqdm

    from ..data.domain import domain_warnings

    names = model.network.config.class_names
    records: list[dict[str, Any]] = []
    with tqdm(total=len(files), desc="predict", unit="img", file=sys.stderr, disable=None) as bar:
        for chunk in _batches(files, BATCH):
            loaded, tensors = [], []
            for path in chunk:
                try:
                    x, facts = read_user_image(path, model, limits)
                except UserError as exc:
                    records.append({"image": str(path), "error": str(exc)})
                    continue
                warnings = (
                    domain_warnings(model.domain, facts, x[0].numpy()) if model.domain else []
                )
                record = {"image": str(path), "warnings": warnings}
                records.append(record)
                loaded.append(record)
                tensors.append(x)
            if tensors:
                batch = torch.cat(tensors)
                probs = probabilities(model.network, batch)
                scores = detector.score(batch) if detector is not None else None
                flagged = detector.flags(scores) if detector is not None else None
                for i, record in enumerate(loaded):
                    index = int(probs[i].argmax())
                    record.update({"class": names[index], "confidence": float(probs[i, index])})
                    if scores is not None:
                        record.update(
                            {"detector_score": float(scores[i]), "flagged": bool(flagged[i])}
                        )
            bar.update(len(chunk))
    return records


def _model_line(model: LoadedModel) -> str:
    config = model.network.config
    color = "gray" if config.in_channels == 1 else "RGB"
    return (
        f"model: {model.name} ({model.path}): {config.arch}, {config.image_size}x"
        f"{config.image_size} {color} input; it answers one of its "
        f"{len(config.class_names)} classes: {', '.join(config.class_names)}"
    )


def render_table(
    model: LoadedModel,
    detector: SqueezeDetector | None,
    records: Sequence[dict[str, Any]],
    notes: Sequence[str],
) -> str:
    lines = [_model_line(model)]
    if detector is not None:
        lines.append(
            f"detector: feature squeezing on this model "
            f"({' + '.join(detector.squeezer_names)}), threshold "
            f"{detector.threshold:.4f}"
        )
    rows, far = [], []
    for record in records:
        if "error" in record:
            continue
        verdict = (
            "–"
            if "flagged" not in record
            else "ADVERSARIAL? (flagged)"
            if record["flagged"]
            else "clean (not flagged)"
        )
        score = f"{record['detector_score']:.4f}" if "detector_score" in record else "–"
        domain = "FAR (see below)" if record["warnings"] else "ok"
        rows.append(
            [
                record["image"],
                record["class"],
                f"{record['confidence']:.4f}",
                score,
                verdict,
                domain,
            ]
        )
        if record["warnings"]:
            far.append(f"  {record['image']}: {_far_note(model, record['warnings'])}")
    if rows:
        lines.append(
            text_table(
                ["image", "class", "confidence", "detector score", "verdict", "training domain"],
                rows,
            )
        )
    if far:
        lines += ["warnings:", *far]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def render_json(
    model: LoadedModel,
    detector: SqueezeDetector | None,
    records: Sequence[dict[str, Any]],
    notes: Sequence[str],
) -> str:
    config = model.network.config
    return json.dumps(
        {
            "model": {
                "name": model.name,
                "path": str(model.path),
                "arch": config.arch,
                "image_size": config.image_size,
                "channels": config.in_channels,
                "classes": list(config.class_names),
            },
            "detector": None
            if detector is None
            else {"squeezers": list(detector.squeezer_names), "threshold": detector.threshold},
            "notes": list(notes),
            "images": list(records),
        },
        indent=2,
    )


CSV_COLUMNS = ("image", "class", "confidence", "detector_score", "flagged", "warnings", "error")


def render_csv(records: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "warnings": "; ".join(record.get("warnings", []))})
    return buffer.getvalue().rstrip("\n")


def cmd_predict(args: argparse.Namespace) -> int:
    paths = ProjectPaths(Path(args.project))
    params = project_params(paths)
    limits = image_limits(paths, params)
    inputs = collect_images(args.images)
    if not inputs.files:
        raise CLIError(
            f"no image files in {', '.join(args.images)} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    device = project_device(paths, args.device)
    model = load_classifier(paths, args.model, device)
    notes = []
    if args.no_detector:
        detector = None
    else:
        choice = calibrated_detector(paths, model)
        detector = choice.detector
        if choice.note:
            notes.append(choice.note)
    if inputs.skipped:
        notes.append(
            f"{inputs.skipped} file(s) in the folders skipped: not named like an "
            f"image ({', '.join(IMAGE_SUFFIXES)})"
        )
    records = classify(model, inputs.files, detector=detector, limits=limits)
    for record in records:
        if "error" in record:
            print(f"modelrobustness: error: {record['error']}", file=sys.stderr)
    if args.format == "json":
        print(render_json(model, detector, records, notes))
    elif args.format == "csv":
        print(render_csv(records))
        for note in notes:
            print(f"modelrobustness: note: {note}", file=sys.stderr)
    else:
        print(render_table(model, detector, records, notes))
    return 1 if any("error" in r for r in records) else 0


def add_parser(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    predict = sub.add_parser(
        "predict",
        parents=list(parents),
        help="class and confidence of images, the detector's verdict, domain warnings",
        description="Classify image files and the images in folders (recursively). With the "
        "model the squeeze_detect stage calibrated its detector on (the baseline), "
        "each image also gets the feature-squeezing detector's score and verdict. "
        "An image far from the model's training data (size, colour, brightness) "
        "is flagged: the model still answers one of its classes.",
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE|FOLDER",
        help="image files, or folders searched recursively for images",
    )
    predict.add_argument(
        "--model",
        default="baseline",
        help="baseline (default), teacher, student, adversarial or a checkpoint path",
    )
    predict.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default), json or csv, on standard output",
    )
    predict.add_argument(
        "--no-detector", action="store_true", help="skip the feature-squeezing detector"
    )
    predict.set_defaults(run=cmd_predict)
