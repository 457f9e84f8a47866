"""Attack speed and strength against the reference libraries and the cost floor.

On the trained baseline (run `dvc repro` first) and the first 500 test images in batches of
100, one process, each measurement the median of 3 runs after a warm-up, interleaved so
that machine drift hits every method alike:

- PGD L-inf, eps 0.1, step 0.01, 40 steps, random start: ours (with and without early
  stop), torchattacks.PGD, adv-lib pgd_linf, and the floor: 40 forward+backward passes
  with gradients w.r.t. the input only. The same at eps 0.03 (step 0.003), where the
  baseline is not broken at once and early stopping has less to skip.
- DDN, 100 steps: ours, adv-lib ddn, and the 100-step floor.

Prints a Markdown table and writes benchmarks/results/attacks.json.

    python benchmarks/attacks.py [--samples 500] [--batch-size 100] [--repeats 3]
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

from modelrobustness.attacks import ddn, pgd
from modelrobustness.data import load_split
from modelrobustness.models import load_model

from reference_libs import adv_lib_attacks, torchattacks

ROOT = Path(__file__).resolve().parents[1]

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def floor(model: torch.nn.Module, steps: int) -> Attack:
    """``steps`` forward+backward passes with gradients w.r.t. the input only."""

    def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for _ in range(steps):
            xi = x.clone().requires_grad_(True)
            loss = F.cross_entropy(model(xi), y, reduction="sum")
            torch.autograd.grad(loss, xi)
        return x

    return run


def batched(attack: Attack, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([attack(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.1, 0.03],
        help="PGD budgets (step size eps / 10); 0.1 is the reference setting",
    )
    parser.add_argument("--model", default=str(ROOT / "models/baseline.pt"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/attacks.json")
    args = parser.parse_args()

    model = load_model(args.model)
    x, y = load_split(ROOT / "data/prepared", "test")
    x, y = x[: args.samples], y[: args.samples]
    adv_lib = adv_lib_attacks()
    steps = 40

    def seeded(fn):
        def run(xb, yb):
            torch.manual_seed(0)  # torchattacks and adv-lib draw from the global generator
            return fn(xb, yb)

        return run

    generator = torch.Generator()

    def ours_pgd(eps: float, early_stop: bool) -> Attack:
        def run(xb, yb):
            return pgd(
                model,
                xb,
                yb,
                eps=eps,
                steps=steps,
                step_size=eps / 10,
                early_stop=early_stop,
                generator=generator,
            )

        return run

    def adv_lib_pgd(eps: float) -> Attack:
        def run(xb, yb):
            return adv_lib.pgd_linf(model, xb, yb, ε=eps, steps=steps, absolute_step_size=eps / 10)

        return run

    methods: dict[str, tuple[str, Attack]] = {
        "pgd floor (40 fwd+bwd)": ("pgd", floor(model, steps)),
    }
    for eps in args.eps:
        methods.update(
            {
                f"pgd ours, eps {eps:g}": ("pgd", ours_pgd(eps, False)),
                f"pgd ours early stop, eps {eps:g}": ("pgd", ours_pgd(eps, True)),
                f"pgd torchattacks, eps {eps:g}": (
                    "pgd",
                    seeded(torchattacks().PGD(model, eps=eps, alpha=eps / 10, steps=steps)),
                ),
                f"pgd adv-lib, eps {eps:g}": ("pgd", seeded(adv_lib_pgd(eps))),
            }
        )
    methods.update(
        {
            "ddn floor (100 fwd+bwd)": ("ddn", floor(model, 100)),
            "ddn ours": ("ddn", lambda xb, yb: ddn(model, xb, yb, steps=100)),
            "ddn adv-lib": ("ddn", seeded(lambda xb, yb: adv_lib.ddn(model, xb, yb, steps=100))),
        }
    )
    times: dict[str, list[float]] = {name: [] for name in methods}
    outputs: dict[str, torch.Tensor] = {}
    for _name, (_, attack) in methods.items():  # warm-up
        batched(attack, x[: args.batch_size], y[: args.batch_size], args.batch_size)
    for _ in range(args.repeats):
        for name, (_, attack) in methods.items():
            generator.manual_seed(0)
            start = time.perf_counter()
            outputs[name] = batched(attack, x, y, args.batch_size)
            times[name].append(time.perf_counter() - start)

    with torch.no_grad():
        clean_pred = model(x).argmax(1)
    rows = []
    floors = {
        "pgd": statistics.median(times["pgd floor (40 fwd+bwd)"]),
        "ddn": statistics.median(times["ddn floor (100 fwd+bwd)"]),
    }
    for name, (kind, _) in methods.items():
        seconds = statistics.median(times[name])
        row = {
            "method": name,
            "seconds": round(seconds, 3),
            "x_floor": round(seconds / floors[kind], 3),
        }
        if kind == "pgd" and "eps" in name:
            reference = statistics.median(times[f"pgd torchattacks, {name.split(', ')[-1]}"])
            row["x_torchattacks"] = round(seconds / reference, 3)
        if "floor" not in name:
            with torch.no_grad():
                pred = model(outputs[name]).argmax(1)
            correct = clean_pred == y
            fooled = correct & (pred != y)
            row["robust_accuracy"] = round(float((correct & (pred == y)).double().mean()), 4)
            if kind == "ddn":
                l2 = (outputs[name] - x).flatten(1).norm(dim=1)[fooled]
                row["success_rate"] = round(float(fooled.sum()) / max(int(correct.sum()), 1), 4)
                row["median_l2"] = round(float(l2.median()), 4) if l2.numel() else None
        rows.append(row)

    print(
        f"{args.samples} images, batch {args.batch_size}, median of {args.repeats}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print(
        "| method | seconds | x floor | x torchattacks | robust acc. | DDN success | "
        "DDN median L2 |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        cells = [
            r["method"],
            f"{r['seconds']:.2f}",
            f"{r['x_floor']:.2f}",
            f"{r['x_torchattacks']:.2f}" if "x_torchattacks" in r else "",
            f"{r['robust_accuracy']:.4f}" if "robust_accuracy" in r else "",
            f"{r['success_rate']:.4f}" if "success_rate" in r else "",
            f"{r['median_l2']:.4f}" if r.get("median_l2") is not None else "",
        ]
        print("| " + " | ".join(cells) + " |")
    result = {
        "samples": args.samples,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "raw_seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
