"""``modelrobustness check-params [FILE]``: every parameter of a params file checked at
once against the pipeline's schema (``make repro`` runs it before ``dvc repro``; run it
before ``dvc exp run -S ...``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ..pipeline.params import load_params
from ..pipeline.paths import ProjectPaths
from .project import CLIError


def cmd_check_params(args: argparse.Namespace) -> int:
    from ..pipeline.schema import check_params, leaf_keys

    root = Path(args.project)
    path = Path(args.file) if args.file else ProjectPaths(root).params
    if not path.is_file():
        raise CLIError(
            f"{path} not found: run in the project folder, pass --project DIR or the file"
        )
    errors = check_params(load_params(path), root=root)
    if errors:
        print(f"{path}: {len(errors)} problem(s); no stage would run with these values:")
        print("\n".join(f"  {error}" for error in errors))
        return 1
    print(f"{path}: all {len(leaf_keys())} parameters are valid")
    return 0


def add_parser(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check-params",
        parents=list(parents),
        help="check every parameter of params.yaml at once",
        description="Check every key of params.yaml (or FILE) against the pipeline's schema: "
        "types, ranges, allowed values, unknown and missing keys, the rules "
        "across keys and the device. Prints every problem; exit status 1 if any.",
    )
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the params file (default: params.yaml of the project)",
    )
    check.set_defaults(run=cmd_check_params)
