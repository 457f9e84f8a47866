"""Square's queries in batches of ``attack.batch_size`` or in larger ones: what
``SQUARE_BATCH_FACTOR`` buys.

On a trained model's inference copy (run `dvc repro` first), the first ``--samples`` test
images (the default 218: the images the student keeps robust at eps 0.03 through APGD in
the AutoAttack benchmark, so Square's share there) attacked by Square at a budget so small
(``--eps``, default 0.001) that no image is fooled and every query runs; the same images
split four ways, interleaved ``--repeats`` times so that machine drift hits every split
alike: ragged batches of 100 (100, 100, 18), balanced batches of at most 100 (73, 73, 72),
balanced batches of at most 50, and one batch of at most 4 x 100. Results do not depend on
the split (the test suite checks it); only the time does.

Prints a Markdown table and writes benchmarks/results/square_batches.json.

    python benchmarks/square_batches.py [--model student] [--samples 218] [--queries 200]
        [--repeats 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from modelrobustness.attacks.square import square
from modelrobustness.data import load_split
from modelrobustness.evaluation.autoattack import SQUARE_BATCH_FACTOR
from modelrobustness.models import load_model
from modelrobustness.models.inference import inference_copy

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 100  # params.yaml's attack.batch_size


def ragged(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def balanced(n: int, size: int) -> list[slice]:
    """The stages' split (``Tensor.tensor_split`` into the fewest batches of at most
    ``size``)."""
    count = -(-n // size)
    small, larger = divmod(n, count)
    sizes = [small + 1] * larger + [small] * (count - larger)
    starts = [sum(sizes[:i]) for i in range(count)]
    return [slice(s, s + k) for s, k in zip(starts, sizes, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="student")
    parser.add_argument("--samples", type=int, default=218)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.001)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/square_batches.json"))
    args = parser.parse_args()
    path = Path(args.model)
    if not path.suffix:
        path = ROOT / "models" / f"{args.model}.pt"
    model = inference_copy(load_model(path, device="cpu"))
    x, y = load_split(ROOT / "data/prepared", "test")
    x, y = x[: args.samples], y[: args.samples]
    n = len(x)
    splits = {
        f"ragged, {BATCH_SIZE}": ragged(n, BATCH_SIZE),
        f"balanced, at most {BATCH_SIZE}": balanced(n, BATCH_SIZE),
        f"balanced, at most {BATCH_SIZE // 2}": balanced(n, BATCH_SIZE // 2),
        f"balanced, at most {SQUARE_BATCH_FACTOR * BATCH_SIZE} (the stages')": balanced(
            n, SQUARE_BATCH_FACTOR * BATCH_SIZE
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in splits}
    fooled: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, parts in splits.items():
            generator = torch.Generator().manual_seed(0)
            start = time.perf_counter()
            adv = torch.cat(
                [
                    square(
                        model, x[p], y[p], eps=args.eps, queries=args.queries, generator=generator
                    )
                    for p in parts
                ]
            )
            times[name].append(time.perf_counter() - start)
            with torch.no_grad():
                fooled[name] = int((model(adv).argmax(1) != y).sum())
    base = statistics.median(times[f"ragged, {BATCH_SIZE}"])
    rows = []
    print(
        f"Square, {n} images of {args.model}, {args.queries} queries, eps {args.eps:g}, "
        f"median of {args.repeats}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    print("| batches | sizes | seconds | x ragged | us / query / image | fooled |")
    print("|---|---|---:|---:|---:|---:|")
    for name, parts in splits.items():
        seconds = statistics.median(times[name])
        sizes = [p.stop - p.start for p in parts]
        per = seconds / (args.queries * n) * 1e6
        rows.append(
            {
                "split": name,
                "sizes": sizes,
                "seconds": seconds,
                "times": times[name],
                "x_ragged": seconds / base,
                "us_per_query_image": per,
                "fooled": fooled[name],
            }
        )
        print(
            f"| {name} | {', '.join(map(str, sizes))} | {seconds:.2f} | "
            f"{seconds / base:.2f} | {per:.1f} | {fooled[name]} |"
        )
    result = {
        "machine": {
            "cpus": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "model": args.model,
        "samples": n,
        "queries": args.queries,
        "eps": args.eps,
        "repeats": args.repeats,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
