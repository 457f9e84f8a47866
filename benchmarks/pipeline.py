"""Wall-clock time of each pipeline stage on this machine.

Runs ``dvc repro --force --single-item <stage>`` for each stage in dvc.yaml order (the
upstream outputs must exist: run ``dvc repro`` once first), prints a Markdown table and
writes ``benchmarks/results/pipeline.json``. Times include DVC's own start-up and hashing.

    python benchmarks/pipeline.py                 # every stage
    python benchmarks/pipeline.py split train_baseline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def stage_names() -> list[str]:
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def time_stage(stage: str) -> float:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "--force", "--single-item", stage], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", help="stages to time (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pipeline.json")
    args = parser.parse_args()
    stages = args.stages or stage_names()
    rows = [(stage, time_stage(stage)) for stage in stages]
    total = sum(seconds for _, seconds in rows)
    print("| stage | seconds |\n|---|---:|")
    for stage, seconds in rows:
        print(f"| {stage} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    import torch

    result = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "platform": platform.platform()},
        "stages": {stage: round(seconds, 2) for stage, seconds in rows},
        "total_seconds": round(total, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
