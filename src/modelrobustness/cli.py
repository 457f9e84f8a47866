"""Command line: ``modelrobustness`` / ``python -m modelrobustness``.

Run it in the project folder after ``dvc repro`` (or point ``--project`` at one): it reads
``models/``, ``params.yaml`` and ``metrics/``. torch and the models are imported by the
commands that need them, so ``--help`` and ``report`` answer at once.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import atomic_write_text
from .params import load_params
from .report import curve_table, results_section, splice_results, summary_table

if TYPE_CHECKING:
    import torch

    from .defenses import SqueezeDetector
    from .models import Classifier

MODEL_ROLES = ("baseline", "teacher", "student")
DESCRIPTION = """\
Try the trained models on your own images and read the results of the pipeline.
Run it in the project folder after `dvc repro` (or pass --project). Images are decoded,
converted and resized exactly as the pipeline prepares its data (data.color, data.image_size
of the model's checkpoint, data.aspect of params.yaml)."""
EPILOG = """\
examples:
  modelrobustness predict cat.jpg dog.png
  modelrobustness predict --model student photos/*.jpg
  modelrobustness attack cat.jpg --attack pgd --eps 0.03 --out adv.png
  modelrobustness attack cat.jpg --attack ddn --out adv.png
  modelrobustness report
  modelrobustness report --readme README.md"""


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _params(project: Path) -> dict[str, Any]:
    path = project / "params.yaml"
    if not path.is_file():
        raise CLIError(f"{path} not found: run in the project folder or pass --project DIR")
    return load_params(path)


def _model(project: Path, spec: str, device: torch.device) -> Classifier:
    from .models import load_model

    path = project / "models" / f"{spec}.pt" if spec in MODEL_ROLES else Path(spec)
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


def _image(path: str, model: Classifier, params: dict[str, Any]) -> torch.Tensor:
    from .single_image import load_image

    config = model.config
    aspect = params.get("data", {}).get("aspect", "crop")
    return load_image(path, size=config.image_size, channels=config.in_channels,
                      aspect=aspect)


def _detector(project: Path, baseline: Classifier) -> SqueezeDetector:
    """The squeeze_detect stage's detector: the baseline, the selected squeezers and the
    calibrated threshold."""
    from .defenses import SqueezeDetector

    path = project / "metrics" / "squeeze_detect.json"
    if not path.is_file():
        raise CLIError(f"{path} not found: run `dvc repro` first to calibrate the detector")
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return SqueezeDetector(baseline, metrics["selected_squeezers"],
                           threshold=float(metrics["threshold"]))


def _prediction(model: Classifier, x: torch.Tensor) -> tuple[str, float]:
    import torch

    with torch.no_grad():
        probs = model(x.to(next(model.parameters()).device)).softmax(dim=1)[0].cpu()
    index = int(probs.argmax())
    return model.config.class_names[index], float(probs[index])


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
                     .rstrip() for r in [header, *rows])


def cmd_predict(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .single_image import UnreadableImage

    project, device = Path(args.project), resolve_device(args.device)
    params = _params(project)
    model = _model(project, args.model, device)
    baseline = model if args.model == "baseline" else _model(project, "baseline", device)
    detector = _detector(project, baseline)
    rows, failed = [], 0
    for path in args.images:
        try:
            x = _image(path, model, params)
            # the detector's model may take another size or colour than --model
            same_input = ((baseline.config.image_size, baseline.config.in_channels)
                          == (model.config.image_size, model.config.in_channels))
            x_detector = x if same_input else _image(path, baseline, params)
        except UnreadableImage as exc:
            print(f"modelrobustness: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        name, confidence = _prediction(model, x)
        score = float(detector.score(x_detector)[0])
        flagged = score > detector.threshold
        rows.append([path, name, f"{confidence:.4f}", f"{score:.4f}",
                     "ADVERSARIAL? (flagged)" if flagged else "clean (not flagged)"])
    if rows:
        print(f"model: {args.model}; detector: feature squeezing on the baseline "
              f"({' + '.join(detector.squeezer_names)}), threshold {detector.threshold:.4f}")
        print(_table(["image", "class", "confidence", "detector score", "verdict"], rows))
    return 1 if failed else 0


def _attack_fn(args: argparse.Namespace, params: dict[str, Any]
               ) -> tuple[Callable[..., torch.Tensor], str | None, float | None]:
    """The attack with its settings from params.yaml (``attack`` section), options applied,
    and the norm and budget the written 8-bit image must respect (PGD) or None (DDN).
    Options are checked before torch is imported, so a bad one fails at once."""
    section = params.get("attack", {})
    seed = int(args.seed if args.seed is not None else params.get("seed", 0))
    if args.eps is not None and not args.eps > 0:
        raise CLIError(f"--eps is {args.eps}; expected a number > 0")
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps is {args.steps}; expected at least 1")
    if args.attack == "pgd":
        cfg = dict(section.get("pgd", {}))
        base_eps = float(cfg.get("eps", 0.1))
        eps = float(args.eps if args.eps is not None else base_eps)
        norm = cfg.get("norm", "linf")
        if norm == "linf":  # the written image is on the 8-bit grid: so is its budget
            eps = math.floor(eps * 255 + 1e-6) / 255
            if eps == 0:
                raise CLIError("--eps is below one grey level (1/255): nothing can change")
        # the step size scales with eps, as on the pipeline's robustness curve; all steps
        # (no early stop): the result lies deeper inside the adversarial region, so rounding
        # it to 8 bits does not undo it
        options = {"eps": eps, "norm": norm, "loss": "margin", "early_stop": False,
                   "steps": int(args.steps if args.steps is not None else cfg.get("steps", 40)),
                   "step_size": float(cfg.get("step_size", base_eps / 10)) * eps / base_eps,
                   "random_start": bool(cfg.get("random_start", True)),
                   "restarts": int(cfg.get("restarts", 1))}
    else:
        cfg = dict(section.get("ddn", {}))
        norm, eps = None, None
        options = {"steps": int(args.steps if args.steps is not None else cfg.get("steps", 100)),
                   "init_norm": float(cfg.get("init_norm", 1.0)),
                   "gamma": float(cfg.get("gamma", 0.05)), "levels": cfg.get("levels", 256)}
    import torch

    from .attacks import ddn, pgd

    attack = pgd if args.attack == "pgd" else ddn
    return functools.partial(attack, **options,
                             generator=torch.Generator().manual_seed(seed)), norm, eps


def cmd_attack(args: argparse.Namespace) -> int:
    if Path(args.out).suffix.lower() != ".png":
        raise CLIError(f"--out {args.out}: the adversarial image is written as PNG (lossless); "
                       "give a .png path")
    project = Path(args.project)
    params = _params(project)
    attack, norm, eps = _attack_fn(args, params)  # bad options fail before any loading

    import torch

    from .device import resolve_device
    from .single_image import UnreadableImage, quantize_within, save_png

    device = resolve_device(args.device)
    model = _model(project, args.model, device)
    try:
        x = _image(args.image, model, params)
    except UnreadableImage as exc:
        raise CLIError(str(exc)) from None
    names = list(model.config.class_names)
    before, before_conf = _prediction(model, x)
    label = args.label or before
    if label not in names:
        raise CLIError(f"--label {label!r} is not a class of this model; expected one of "
                       f"{', '.join(names)}")
    x_adv = attack(model, x.to(device), torch.tensor([names.index(label)], device=device))
    x_adv = quantize_within(x_adv.cpu(), x, linf_budget=eps if norm == "linf" else None)
    save_png(args.out, x_adv)
    after, after_conf = _prediction(model, x_adv)
    delta = (x_adv - x).flatten()
    print(f"{args.attack.upper()} on {args.model}, attacking the label {label!r}"
          f"{' (the clean prediction)' if not args.label else ''}")
    print(_table(["", "class", "confidence"],
                 [["before", before, f"{before_conf:.4f}"],
                  ["after", after, f"{after_conf:.4f}"]]))
    print(f"perturbation: L-inf {float(delta.abs().max()):.4f} "
          f"({round(float(delta.abs().max()) * 255)} grey levels), "
          f"L2 {float(delta.norm()):.4f} ([0, 1] pixel units, "
          f"{x.shape[-1]}x{x.shape[-2]} image)")
    if before != label:
        verdict = f"already misclassified before the attack (true class {label!r})"
    else:
        verdict = "fooled" if after != label else "not fooled: the prediction did not change"
    print(f"{verdict}; wrote {args.out} "
          f"(the {x.shape[-1]}x{x.shape[-2]} image the model sees, 8-bit)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    project = Path(args.project)
    path = project / "metrics" / "evaluate.json"
    if not path.is_file():
        raise CLIError(f"{path} not found: run `dvc repro` first")
    if args.readme:
        report = project / "reports" / "robustness.md"
        if not report.is_file():
            raise CLIError(f"{report} not found: run `dvc repro` first")
        readme = Path(args.readme)
        text = readme.read_text(encoding="utf-8")
        try:
            updated = splice_results(text, results_section(report.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise CLIError(f"{readme}: {exc}") from None
        if updated != text:
            atomic_write_text(readme, updated)
        print(f"{readme}: results section {'updated' if updated != text else 'unchanged'} "
              f"from {report}")
        return 0
    summary = json.loads(path.read_text(encoding="utf-8"))
    print(summary_table(summary))
    print()
    print(curve_table(summary))
    print(f"\nfull report: {project / 'reports' / 'robustness.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelrobustness", description=DESCRIPTION,
                                     epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=".", metavar="DIR",
                        help="project folder with params.yaml, models/, metrics/ (default: .)")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda, cuda:N or auto")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = sub.add_parser(
        "predict", help="class, confidence, detector score and verdict for each image",
        description="Classify images and score them with the feature-squeezing detector "
                    "(calibrated on the baseline by the squeeze_detect stage).")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--model", default="baseline",
                         help="baseline (default), teacher, student or a checkpoint path")
    predict.set_defaults(run=cmd_predict)

    attack = sub.add_parser(
        "attack", help="write an adversarial version of an image",
        description="Attack one image with PGD (margin loss, settings from params.yaml "
                    "attack.pgd) or DDN (attack.ddn); print the predictions before and after "
                    "and the perturbation's norms. The output is the model-sized 8-bit "
                    "image; PGD's result is rounded without leaving the eps-ball.")
    attack.add_argument("image", metavar="IMAGE")
    attack.add_argument("--attack", required=True, choices=["pgd", "ddn"])
    attack.add_argument("--out", required=True, metavar="PNG", help="where to write the image")
    attack.add_argument("--model", default="baseline",
                        help="baseline (default), teacher, student or a checkpoint path")
    attack.add_argument("--label", help="true class (default: the model's clean prediction)")
    attack.add_argument("--eps", type=float, help="PGD budget (default: attack.pgd.eps)")
    attack.add_argument("--steps", type=int, help="iterations (default: from params.yaml)")
    attack.add_argument("--seed", type=int, help="random start seed (default: seed)")
    attack.set_defaults(run=cmd_attack)

    report = sub.add_parser(
        "report", help="print the summary table (metrics/evaluate.json)",
        description="Print the model x attack x defense table and the robustness curves; "
                    "with --readme, copy the report's results section into a README.")
    report.add_argument("--readme", metavar="FILE",
                        help="replace the results section of FILE (between its results "
                             "markers) with the one of reports/robustness.md")
    report.set_defaults(run=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CLIError, OSError, ValueError) as exc:
        print(f"modelrobustness: error: {exc}", file=sys.stderr)
        return 1
