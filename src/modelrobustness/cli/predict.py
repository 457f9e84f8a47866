"""``modelrobustness predict IMAGE...``: class, confidence, detector score and verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..pipeline.paths import ProjectPaths
from .project import (
    calibrated_detector,
    load_classifier,
    load_user_image,
    prediction,
    project_device,
    project_params,
    text_table,
)


def cmd_predict(args: argparse.Namespace) -> int:
    from ..data.images import UnreadableImage

    paths = ProjectPaths(Path(args.project))
    params = project_params(paths)
    device = project_device(paths, args.device)
    model = load_classifier(paths, args.model, device)
    baseline = model if args.model == "baseline" else load_classifier(paths, "baseline", device)
    detector = calibrated_detector(paths, baseline)
    rows, failed = [], 0
    for path in args.images:
        try:
            x = load_user_image(path, model, params)
            # the detector's model may take another size or colour than --model
            same_input = ((baseline.config.image_size, baseline.config.in_channels)
                          == (model.config.image_size, model.config.in_channels))
            x_detector = x if same_input else load_user_image(path, baseline, params)
        except UnreadableImage as exc:
            print(f"modelrobustness: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        name, confidence = prediction(model, x)
        score = float(detector.score(x_detector)[0])
        flagged = score > detector.threshold
        rows.append([path, name, f"{confidence:.4f}", f"{score:.4f}",
                     "ADVERSARIAL? (flagged)" if flagged else "clean (not flagged)"])
    if rows:
        print(f"model: {args.model}; detector: feature squeezing on the baseline "
              f"({' + '.join(detector.squeezer_names)}), threshold {detector.threshold:.4f}")
        print(text_table(["image", "class", "confidence", "detector score", "verdict"], rows))
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser(
        "predict", help="class, confidence, detector score and verdict for each image",
        description="Classify images and score them with the feature-squeezing detector "
                    "(calibrated on the baseline by the squeeze_detect stage).")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--model", default="baseline",
                         help="baseline (default), teacher, student or a checkpoint path")
    predict.set_defaults(run=cmd_predict)
