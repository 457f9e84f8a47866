"""Command line: ``modelrobustness`` / ``python -m modelrobustness``; one module per
subcommand (``predict``, ``attack``, ``report``).

Run it in the project folder after ``dvc repro`` (or point ``--project`` at one): it reads
``models/``, ``params.yaml`` and ``metrics/``. torch and the models are imported by the
commands that need them, so ``--help`` and ``report`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import attack, predict, report
from .project import CLIError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelrobustness", description=DESCRIPTION,
                                     epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=".", metavar="DIR",
                        help="project folder with params.yaml, models/, metrics/ (default: .)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda or cuda:N (default: the project's `device` "
                             "parameter)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict.add_parser(sub)
    attack.add_parser(sub)
    report.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CLIError, OSError, ValueError) as exc:
        print(f"modelrobustness: error: {exc}", file=sys.stderr)
        return 1
