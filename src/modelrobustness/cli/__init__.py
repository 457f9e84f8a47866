"""Command line: ``modelrobustness`` / ``python -m modelrobustness``; one module per
subcommand (``predict``, ``attack``, ``report``, ``check-params``).

Run it in the project folder after ``dvc repro`` (or point ``--project`` at one): it reads
``models/``, ``params.yaml`` and ``metrics/``. torch and the models are imported by the
commands that need them, so ``--help``, ``report`` and ``check-params`` start quickly. A user
error (a bad option, file or parameter) is one message on standard error and exit status 1,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..utils.errors import UserError
from . import attack, check_params, predict, report

DESCRIPTION = """\
Try the trained models on your own images and read the results of the pipeline.
Run it in the project folder after `dvc repro` (or pass --project). Images are decoded,
converted and resized exactly as the pipeline prepares its data (data.color, data.image_size
of the model's checkpoint, data.aspect and data.max_pixels of params.yaml)."""
EPILOG = """\
examples:
  modelrobustness predict cat.jpg dog.png
  modelrobustness predict --model student photos/ --format csv > predictions.csv
  modelrobustness attack cat.jpg --attack pgd --eps 0.03 --out adv.png
  modelrobustness attack cat.jpg --attack ddn --out adv.png --device cpu
  modelrobustness check-params
  modelrobustness report
  modelrobustness report --readme README.md"""


def _global_options(*, defaults: bool) -> argparse.ArgumentParser:
    """``--project`` and ``--device``, accepted before and after the command: the
    subcommands' copies leave the values unset unless given (``defaults=False``)."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("global options (before or after the command)")
    unset = {} if defaults else {"default": argparse.SUPPRESS}
    group.add_argument(
        "--project",
        metavar="DIR",
        **({"default": "."} if defaults else unset),
        help="project folder with params.yaml, models/, metrics/ (default: .)",
    )
    group.add_argument(
        "--device",
        metavar="DEVICE",
        **({"default": None} if defaults else unset),
        help="auto, cpu, cuda, cuda:N or mps (default: the project's `device` parameter)",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelrobustness",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[_global_options(defaults=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [_global_options(defaults=False)]
    for command in (predict, attack, report, check_params):
        command.add_parser(sub, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UserError, OSError, ValueError) as exc:
        print(f"modelrobustness: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("modelrobustness: interrupted; nothing was written", file=sys.stderr)
        return 130
