"""``modelrobustness report``: the summary table, or the README's results section."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..pipeline.paths import ProjectPaths
from ..reporting.markdown import (
    FIGURES,
    curve_table,
    results_section,
    splice_results,
    summary_table,
)
from ..utils.io import atomic_write_text
from .project import CLIError


def read_summary(paths: ProjectPaths) -> dict:
    """``reports/summary.json``, what the report shows."""
    if not paths.summary.is_file():
        raise CLIError(f"{paths.summary} not found: run `dvc repro` first")
    try:
        return json.loads(paths.summary.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{paths.summary} is not valid JSON ({exc}): rerun `dvc repro evaluate`"
        ) from None


def cmd_report(args: argparse.Namespace) -> int:
    paths = ProjectPaths(Path(args.project))
    summary = read_summary(paths)
    if args.readme:
        report = paths.report
        if not report.is_file():
            raise CLIError(f"{report} not found: run `dvc repro` first")
        readme = Path(args.readme).resolve()  # a symbolic link's target is updated
        text = readme.read_text(encoding="utf-8")
        try:
            updated = splice_results(
                text,
                results_section(report.read_text(encoding="utf-8")),
                figures_to=readme_figures(paths),
            )
        except ValueError as exc:
            raise CLIError(f"{readme}: {exc}") from None
        if updated != text:
            atomic_write_text(readme, updated)
        print(
            f"{readme}: results section {'updated' if updated != text else 'unchanged'} "
            f"from {report}"
        )
        return 0
    print(summary_table(summary))
    print()
    print(curve_table(summary))
    print(f"\nfull report: {paths.report}")
    return 0


def readme_figures(paths: ProjectPaths) -> str:
    """The report's figures folder as a README at the project's root links to it."""
    return (paths.reports / FIGURES).relative_to(paths.root).as_posix()


def add_parser(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        parents=list(parents),
        help="print the summary table (reports/summary.json)",
        description="Print the model x attack x defense table and the robustness curves; "
        "with --readme, copy the report's results section into a README.",
    )
    report.add_argument(
        "--readme",
        metavar="FILE",
        help="replace the results section of FILE (between its results "
        "markers) with the one of reports/robustness.md",
    )
    report.set_defaults(run=cmd_report)
