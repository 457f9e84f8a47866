"""The inference copy against the checkpoint it comes from: time per image of a forward
pass and of a forward pass with the input gradient (what attacks pay per step), and how far
the copy's logits are from the checkpoint's.

On the trained models (run `dvc repro` first), random batches of the test images' shape,
batch sizes 25, 100 and 300; each time the median of ``--repeats`` rounds of ``--calls``
calls, checkpoint and copy interleaved so that machine drift hits both alike. The equality
columns run over the whole test split.

Prints a Markdown table and writes benchmarks/results/inference.json.

    python benchmarks/inference.py [--models baseline student] [--batch-sizes 25 100 300]
        [--repeats 5] [--calls 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modelrobustness.data import load_split
from modelrobustness.models import load_model
from modelrobustness.models.inference import inference_copy

ROOT = Path(__file__).resolve().parents[1]


def forward(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return model(x)

    return run


def forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        xi = x.clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(xi), y, reduction="sum"), xi)

    return run


def seconds_per_call(run: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["baseline", "student"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[25, 100, 300])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/inference.json")
    args = parser.parse_args()

    x_test, y_test = load_split(ROOT / "data/prepared", "test")
    generator = torch.Generator().manual_seed(0)
    rows = []
    for name in args.models:
        model = load_model(ROOT / "models" / f"{name}.pt").eval()
        copy = inference_copy(model)
        with torch.no_grad():
            logits, copy_logits = model(x_test), copy(x_test)
        difference = float((copy_logits - logits).abs().max() / logits.abs().max())
        changed = int((copy_logits.argmax(1) != logits.argmax(1)).sum())
        for batch in args.batch_sizes:
            x = torch.rand((batch, *x_test.shape[1:]), generator=generator)
            y = torch.randint(0, logits.shape[1], (batch,), generator=generator)
            passes = {
                "forward": (forward(model, x), forward(copy, x)),
                "forward + input gradient": (
                    forward_backward(model, x, y),
                    forward_backward(copy, x, y),
                ),
            }
            for what, (on_checkpoint, on_copy) in passes.items():
                runs = {"checkpoint": on_checkpoint, "copy": on_copy}
                for run in runs.values():  # warm-up
                    seconds_per_call(run, 2)
                times: dict[str, list[float]] = {k: [] for k in runs}
                for _ in range(args.repeats):
                    for key, run in runs.items():
                        times[key].append(seconds_per_call(run, args.calls))
                checkpoint = statistics.median(times["checkpoint"]) / batch
                copied = statistics.median(times["copy"]) / batch
                rows.append(
                    {
                        "model": name,
                        "batch_size": batch,
                        "pass": what,
                        "checkpoint_us_per_image": round(checkpoint * 1e6, 1),
                        "copy_us_per_image": round(copied * 1e6, 1),
                        "copy_x_checkpoint": round(copied / checkpoint, 3),
                        "max_logit_difference_relative": difference,
                        "test_predictions_changed": changed,
                        "test_images": len(x_test),
                    }
                )
                print(
                    f"{name} batch {batch} {what}: checkpoint {checkpoint * 1e6:.1f} us, "
                    f"copy {copied * 1e6:.1f} us per image",
                    flush=True,
                )

    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, median of "
        f"{args.repeats} x {args.calls} calls; logits over the {len(x_test)} test images\n"
    )
    print(
        "| model | batch | pass | checkpoint, us / image | copy, us / image | copy x checkpoint "
        "| max logit difference / max logit | test predictions changed |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        print(
            f"| {r['model']} | {r['batch_size']} | {r['pass']} | "
            f"{r['checkpoint_us_per_image']:.1f} | {r['copy_us_per_image']:.1f} | "
            f"{r['copy_x_checkpoint']:.2f} | {r['max_logit_difference_relative']:.1e} | "
            f"{r['test_predictions_changed']} |"
        )
    result = {
        "repeats": args.repeats,
        "calls": args.calls,
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
