"""Wall-clock time of each pipeline stage on this machine.

Default: ``dvc repro --force --single-item <stage>`` for each stage in dvc.yaml order (the
upstream outputs must exist: run ``dvc repro`` once first). ``--from-scratch``: delete
``data/``, ``models/`` and the DVC cache, run one ``dvc repro --force`` and time each stage from the
moment DVC announces it to the next announcement (the last one to the end). Prints a
Markdown table and writes ``benchmarks/results/pipeline.json`` (``pipeline_scratch.json``).
Times include DVC's own start-up and hashing.

    python benchmarks/pipeline.py                 # every stage, each forced on its own
    python benchmarks/pipeline.py split train_baseline
    python benchmarks/pipeline.py --from-scratch  # the whole pipeline as a new user runs it
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def stage_names() -> list[str]:
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def _env() -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def time_from_scratch() -> list[tuple[str, float]]:
    """One ``dvc repro`` after removing every output DVC could restore; per-stage times."""
    for folder in ("data", "models", ".dvc/cache"):
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    env = dict(_env(), PYTHONUNBUFFERED="1")  # stage announcements arrive when made
    # --force: a stage whose outputs are all git-tracked (squeeze_detect) and whose inputs
    # come out byte-identical would otherwise be skipped, which a new machine cannot count on
    with subprocess.Popen(
        ["dvc", "repro", "--force"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.match(r"Running stage '([^']+)'", line)
            if found:
                marks.append((found.group(1), time.perf_counter()))
    if proc.returncode:
        raise SystemExit(f"dvc repro failed with status {proc.returncode}")
    end = time.perf_counter()
    bounds = [start] + [t for _, t in marks[1:]] + [end]  # DVC's start-up counts to the first
    return [(name, bounds[i + 1] - bounds[i]) for i, (name, _) in enumerate(marks)]


def time_stage(stage: str) -> float:
    env = _env()
    start = time.perf_counter()
    subprocess.run(
        ["dvc", "repro", "--force", "--single-item", stage],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", help="stages to time (default: all)")
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="delete data/, models/ and .dvc/cache, then time one dvc repro",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.from_scratch:
        if args.stages:
            parser.error("--from-scratch runs the whole pipeline: name no stages")
        rows = time_from_scratch()
    else:
        rows = [(stage, time_stage(stage)) for stage in args.stages or stage_names()]
    out = args.out or ROOT / "benchmarks/results" / (
        "pipeline_scratch.json" if args.from_scratch else "pipeline.json"
    )
    total = sum(seconds for _, seconds in rows)
    print("| stage | seconds |\n|---|---:|")
    for stage, seconds in rows:
        print(f"| {stage} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    import torch

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "mode": "from scratch, one dvc repro" if args.from_scratch else "each stage forced",
        "stages": {stage: round(seconds, 2) for stage, seconds in rows},
        "total_seconds": round(total, 2),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
