"""AutoAttack: our ensemble against AutoAttack ``standard`` built from torchattacks' parts.

On the trained baseline and student (run `dvc repro` first), the first 300 test images in
batches of 100, L-inf, at eps 0.1 (the default run's attack.pgd.eps) and 0.03, the smaller
budget, where most images survive: our fast ensemble leaves 0.62 of the baseline robust at
0.03 (PGD-40: 0.66), so the ensemble's full budget is spent on most images; at 0.02 (PGD-40:
0.85) or 0.01 nearly all would survive and the robust accuracies would tell the attacks
apart less. Methods, on the same images, each measurement the median of 3 runs after a
short warm-up, interleaved so that machine drift hits every method alike:

- ``ours-fast``: the pipeline default, AutoAttackConfig(version="fast"): APGD-CE and
  APGD-T at 25 steps, 3 target classes, Square at 1000 queries, per-sample early stop.
- ``ours-standard``: version="standard", the paper's settings: 100 steps, 9 targets,
  5000 queries.
- ``reference-standard``: the same ensemble at the paper's settings from torchattacks'
  parts: MultiAttack([APGD(ce, 100 steps), APGDT(100 steps, 9 targets), Square(5000)]),
  one restart each. Like ours it leaves out FAB-T (AutoAttack's third attack).
  MultiAttack runs each attack only on the images of the batch every earlier one left
  robust (APGD-T likewise moves to the next target class with the survivors only), but
  within an attack every image runs every step, fooled or not.
- ``torchattacks-autoattack``: torchattacks.AutoAttack(version="standard") as shipped:
  APGD-CE, APGD-T, FAB-T at torchattacks' default of 10 steps (the paper: 100) and
  Square at 5000 queries.

Robust accuracy is computed here from the model's predictions on the images each method
returns (correct clean and correct on the adversarial image; an image outside the eps-ball
or [0, 1] does not count as fooled). Forward and backward passes are counted in images by a
wrapper around the model (rows of each forward; rows of each gradient that flows back
through its output), per image attacked (clean-correct) and, in a separate untimed run of
each method on at most ``--robust-cost-samples`` of the images it left robust, per robust
image: what an image that survives costs. The backward passes per robust image are also
given as a multiple of PGD-40's 40.

What an image that survives costs (counted, and by construction): ours-standard 1 + 102 +
9 x 103 + 5002 = 6,032 forwards (and 1 per batch and APGD run, to count the classes) and
100 + 9 x 100 = 1,000 backwards (25x PGD-40), the reference 6,027 and 1,010 (its APGD also
takes the gradient of the last iterate); Square's 5,000 queries are 83% of the forwards.
FAB-T at 100 steps would add about 9 x 204 = 1,840 forwards and 900 backwards: AutoAttack
standard's 7,900 and 1,900 of issue 11 (50x PGD-40). torchattacks' AutoAttack as shipped
costs 5,336 and 200 (5x PGD-40): its 10 steps leave out 90 of APGD-CE's, APGD-T's and
FAB-T's 100. Our default, ``fast``, costs 1 + 27 + 3 x 28 + 1002 = 1,114 forwards and 25 +
3 x 25 = 100 backwards (2.5x PGD-40, a fifth of standard's forwards and a tenth of its
backwards): it omits FAB-T, 75 of APGD's 100 steps, 6 of the 9 target classes and 4,000 of
Square's 5,000 queries. Early stopping saves nothing on an image that survives: the
speed-up over the reference comes from the images broken early and from attacking the
survivors of all batches together.

Goal (issue 11): ours-standard's robust accuracy at most 1 point above the reference's,
at least 2x faster; checked and printed per model and eps (and for ours-fast).

Prints a Markdown table and writes benchmarks/results/autoattack.json; while it runs, every
measurement so far is in benchmarks/results/autoattack.partial.json (removed at the end), so
a run stopped early keeps its seconds and robust counts. The full default takes about 2
hours on 2 cores: start it with nothing else running (another torch process on the same
cores slows every method, unevenly).

    python benchmarks/autoattack.py [--models baseline student] [--eps 0.1 0.03]
        [--samples 300] [--batch-size 100] [--repeats 3] [--methods ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from modelrobustness.data import load_split
from modelrobustness.evaluation.autoattack import AutoAttackConfig, ensemble_members
from modelrobustness.evaluation.ensemble import run_ensemble
from modelrobustness.evaluation.harness import SampleSeeds
from modelrobustness.models import load_model
from modelrobustness.models.inference import inference_copy
from modelrobustness.utils.torch import predict_labels

from reference_libs import torchattacks

ROOT = Path(__file__).resolve().parents[1]
METHODS = (
    "ours-fast",
    "ours-standard",
    "reference-standard",
    "reference-standard-copy",
    "torchattacks-autoattack",
)
# the methods that attack the inference copy (the stages' model); the rest the checkpoint
ON_COPY = frozenset({"ours-fast", "ours-standard", "reference-standard-copy"})
PGD_BACKWARDS = 40  # PGD-40: one backward pass per step and image
TOLERANCE = 1e-5  # slack of the eps-ball check (float32 rounding)


class Counting(nn.Module):
    """``model`` counting the images of every forward pass and of every gradient that
    flows back through its output (one backward pass per row). It takes the model's mode:
    torchattacks restores the mode it finds on the module it is given, and a wrapper left in
    train mode would put the model in train mode after every attack."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)
        self.forwards = 0
        self.backwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        self.forwards += x.shape[0]
        if out.requires_grad:
            out.register_hook(self._count_backward)
        return out

    def _count_backward(self, grad: torch.Tensor) -> None:
        self.backwards += grad.shape[0]

    def reset(self) -> None:
        self.forwards = self.backwards = 0


# a method: (images, labels) -> (adversarial images, per-member details or None)
Method = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict | None]]


@dataclass
class Measurement:
    seconds: list[float] = field(default_factory=list)
    robust: list[int] = field(default_factory=list)
    forwards: int = 0
    backwards: int = 0
    clean_correct: int = 0
    max_linf: float = 0.0
    outside_ball: int = 0
    details: dict | None = None
    reported_robust: list[int] = field(default_factory=list)
    robust_mask: torch.Tensor | None = None


def batched(attack, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([attack(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)])


def build_methods(
    plain: Counting,
    copy: Counting,
    *,
    eps: float,
    classes: int,
    batch_size: int,
) -> dict[str, Method]:
    """Ours on ``copy`` (the inference copy, as the stage runs it), the references on
    ``plain`` (the checkpoint as loaded) and the reference once more on ``copy``."""
    ta = torchattacks()
    model = copy

    def ours(version: str) -> Method:
        config = AutoAttackConfig(
            eps=eps, version=version, steps=None, n_target_classes=None, square_queries=None
        )  # None: the version's settings

        def run(x, y):
            members = ensemble_members(model, config=config, eps=eps, norm="linf", classes=classes)
            result = run_ensemble(
                model, x, y, members, batch_size=batch_size, seeds=SampleSeeds.first(0, len(x))
            )
            details = {
                "robust_accuracy_after": result.robust_accuracy_after(),
                "fooled_by": result.fooled_by(),
                "seconds_by_attack": result.seconds,
                "reported_robust": int(result.robust.sum()),
            }
            return result.x_adv, details

        return run

    def seeded(attack) -> Method:
        def run(x, y):
            torch.manual_seed(0)  # torchattacks reseeds the global generator per call
            return batched(attack, x, y, batch_size), None

        return run

    def reference(net: Counting) -> Method:
        return seeded(
            ta.MultiAttack(
                [
                    ta.APGD(net, eps=eps, norm="Linf", steps=100, n_restarts=1, loss="ce", seed=0),
                    ta.APGDT(
                        net,
                        eps=eps,
                        norm="Linf",
                        steps=100,
                        n_restarts=1,
                        n_classes=classes,
                        seed=0,
                    ),
                    ta.Square(net, eps=eps, norm="Linf", n_queries=5000, n_restarts=1, seed=0),
                ]
            )
        )

    shipped = ta.AutoAttack(
        plain, norm="Linf", eps=eps, version="standard", n_classes=classes, seed=0
    )
    return {
        "ours-fast": ours("fast"),
        "ours-standard": ours("standard"),
        "reference-standard": reference(plain),
        "reference-standard-copy": reference(copy),
        "torchattacks-autoattack": seeded(shipped),
    }


def correct_under(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, batch_size: int
) -> torch.Tensor:
    return predict_labels(model, x_adv, batch_size=batch_size) == y


def check_eval_mode(model: nn.Module, what: str) -> None:
    training = [name or "model" for name, m in model.named_modules() if m.training]
    if training:
        raise RuntimeError(f"{what} left the model in train mode: {training[:5]}")


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def per(total: int, n: int) -> float | None:
    return round(total / n, 1) if n else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["baseline", "student"],
        help="names under models/ (models/<name>.pt) or checkpoint paths",
    )
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.1, 0.03],
        help="L-inf budgets; 0.1 is the default run's attack.pgd.eps",
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--robust-cost-samples",
        type=int,
        default=20,
        help="robust images re-attacked (untimed) for the cost per robust "
        "image (the same on every image that survives to the end); "
        "0 skips it",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="images each method attacks once before timing (0: none)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's own choice)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/autoattack.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in METHODS if m in args.methods]

    x, y = load_split(ROOT / "data/prepared", "test")
    x, y = x[: args.samples], y[: args.samples]
    # per model: (checkpoint, its counter, inference copy, its counter)
    models: dict[str, tuple[nn.Module, Counting, nn.Module, Counting]] = {}
    runs: dict[tuple[str, float], dict[str, Method]] = {}
    for name in args.models:
        path = Path(name) if name.endswith(".pt") else ROOT / "models" / f"{name}.pt"
        model = load_model(path).eval()
        copy = inference_copy(model)
        models[name] = (model, Counting(model), copy, Counting(copy))
        with torch.no_grad():
            classes = model(x[:1]).shape[1]
        for eps in args.eps:
            runs[name, eps] = build_methods(
                models[name][1],
                models[name][3],
                eps=eps,
                classes=classes,
                batch_size=args.batch_size,
            )
    keys = [(name, eps, method) for (name, eps) in runs for method in methods]
    results = {key: Measurement() for key in keys}

    def attacked(key: tuple[str, float, str]) -> tuple[nn.Module, Counting]:
        """The model ``key``'s method attacks (and is judged on), and its counter."""
        model, counting, copy, copy_counting = models[key[0]]
        return (copy, copy_counting) if key[2] in ON_COPY else (model, counting)

    def attack(key: tuple[str, float, str], xs: torch.Tensor, ys: torch.Tensor):
        name, eps, method = key
        counting = attacked(key)[1]
        counting.reset()
        start = time.perf_counter()
        x_adv, details = runs[name, eps][method](xs, ys)
        seconds = time.perf_counter() - start
        check_eval_mode(counting, f"{name} eps {eps:g} {method}")
        return x_adv.detach(), details, seconds

    if args.warmup:
        for key in keys:
            attack(key, x[: args.warmup], y[: args.warmup])
    partial = args.out.with_suffix(".partial.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for repeat in range(args.repeats):
        for key in keys:
            x_adv, details, seconds = attack(key, x, y)
            name, eps, method = key
            model, counting = attacked(key)
            clean = correct_under(model, x, y, args.batch_size)
            linf = (x_adv - x).flatten(1).abs().amax(1)
            ok = (
                (linf <= eps + TOLERANCE)
                & (x_adv >= 0).flatten(1).all(1)
                & (x_adv <= 1).flatten(1).all(1)
            )
            robust = clean & (correct_under(model, x_adv, y, args.batch_size) | ~ok)
            r = results[key]
            r.seconds.append(seconds)
            r.robust.append(int(robust.sum()))
            r.forwards, r.backwards = counting.forwards, counting.backwards
            r.clean_correct, r.details, r.robust_mask = int(clean.sum()), details, robust
            if details is not None:
                r.reported_robust.append(details["reported_robust"])
            r.max_linf, r.outside_ball = float(linf.max()), int((~ok).sum())
            print(
                f"repeat {repeat + 1}/{args.repeats} {name} eps {eps:g} {method}: "
                f"{seconds:.1f} s, robust {int(robust.sum())}/{len(x)}",
                flush=True,
            )
            # a run stopped early (the full default takes hours) keeps what it measured
            partial.write_text(
                json.dumps(
                    {
                        "samples": len(x),
                        "repeats_started": repeat + 1,
                        "measurements": {
                            f"{n} eps {e:g} {m}": {
                                "seconds": [round(t, 3) for t in v.seconds],
                                "robust": v.robust,
                                "forwards": v.forwards,
                                "backwards": v.backwards,
                                "clean_correct": v.clean_correct,
                            }
                            for (n, e, m), v in results.items()
                            if v.seconds
                        },
                    },
                    indent=2,
                )
                + "\n"
            )

    robust_cost: dict[tuple[str, float, str], dict] = {}
    if args.robust_cost_samples:
        for key in keys:
            index = results[key].robust_mask.nonzero().squeeze(1)[: args.robust_cost_samples]
            if not index.numel():
                continue
            x_adv, _, seconds = attack(key, x[index], y[index])
            model, counting = attacked(key)
            still = int(correct_under(model, x_adv, y[index], args.batch_size).sum())
            robust_cost[key] = {
                "images": int(index.numel()),
                "still_robust": still,
                "forwards": per(counting.forwards, index.numel()),
                "backwards": per(counting.backwards, index.numel()),
                "seconds": round(seconds / index.numel(), 4),
            }

    rows = []
    for key in keys:
        name, eps, method = key
        r = results[key]
        seconds = statistics.median(r.seconds)
        medians = {m: statistics.median(results[name, eps, m].seconds) for m in methods}
        cost = robust_cost.get(key, {})
        row = {
            "model": name,
            "eps": eps,
            "method": method,
            "clean_accuracy": round(r.clean_correct / len(x), 4),
            "robust_accuracy": round(statistics.median(r.robust) / len(x), 4),
            "robust_by_repeat": r.robust,
            "seconds": round(seconds, 3),
            "x_ours_standard": ratio(seconds, medians.get("ours-standard")),
            "x_reference_standard": ratio(seconds, medians.get("reference-standard")),
            "x_reference_standard_copy": ratio(seconds, medians.get("reference-standard-copy")),
            "model_attacked": "inference copy" if method in ON_COPY else "checkpoint",
            "forwards": r.forwards,
            "backwards": r.backwards,
            "forwards_per_attacked_image": per(r.forwards, r.clean_correct),
            "backwards_per_attacked_image": per(r.backwards, r.clean_correct),
            "forwards_per_robust_image": cost.get("forwards"),
            "backwards_per_robust_image": cost.get("backwards"),
            "seconds_per_robust_image": cost.get("seconds"),
            "robust_cost_run": cost or None,
            "x_pgd40_backwards_per_attacked_image": ratio(
                per(r.backwards, r.clean_correct), PGD_BACKWARDS
            ),
            "x_pgd40_backwards_per_robust_image": ratio(cost.get("backwards"), PGD_BACKWARDS),
            "max_linf": round(r.max_linf, 6),
            "outside_ball": r.outside_ball,
        }
        if r.details is not None:
            row["ensemble"] = r.details
            row["ensemble_reported_robust_by_repeat"] = r.reported_robust
        rows.append(row)

    def cell(value, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    print(
        f"\n{len(x)} images, batch {args.batch_size}, median of {args.repeats}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; per image: per "
        f"clean-correct (attacked) image; per robust image: a rerun on at most "
        f"{args.robust_cost_samples} of the images the method left robust\n"
    )
    print(
        "| model | eps | method | model attacked | robust acc. | seconds | "
        "x ours standard | x reference standard | x reference on the copy | "
        "fwd / image | bwd / image | fwd / robust image | bwd / robust image | "
        "bwd / robust image, x PGD-40 |\n"
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        cells = [
            r["model"],
            f"{r['eps']:g}",
            r["method"],
            r["model_attacked"],
            f"{r['robust_accuracy']:.4f}",
            f"{r['seconds']:.1f}",
            cell(r["x_ours_standard"], ".2f"),
            cell(r["x_reference_standard"], ".2f"),
            cell(r["x_reference_standard_copy"], ".2f"),
            cell(r["forwards_per_attacked_image"], ",.0f"),
            cell(r["backwards_per_attacked_image"], ",.0f"),
            cell(r["forwards_per_robust_image"], ",.0f"),
            cell(r["backwards_per_robust_image"], ",.0f"),
            cell(r["x_pgd40_backwards_per_robust_image"], ".1f"),
        ]
        print("| " + " | ".join(cells) + " |")

    def against(ours: dict, reference: dict | None) -> dict | None:
        if reference is None:
            return None
        points = 100 * (ours["robust_accuracy"] - reference["robust_accuracy"])
        points = round(points, 6)  # 0.65 - 0.64 is 1.0000000000000009 points
        speedup = ratio(reference["seconds"], ours["seconds"])
        return {
            "robust_accuracy_points_above": round(points, 2),
            "speedup": speedup,
            "met": points <= 1.0 and speedup is not None and speedup >= 2.0,
        }

    goals = []
    by_key = {(r["model"], r["eps"], r["method"]): r for r in rows}
    for name, eps in runs:
        for method in ("ours-standard", "ours-fast"):
            ours = by_key.get((name, eps, method))
            if ours is None:
                continue
            # the goal: against the reference as a user runs it, on the checkpoint;
            # beside it, the reference given the same inference copy (the attacks alone)
            plain = against(ours, by_key.get((name, eps, "reference-standard")))
            same = against(ours, by_key.get((name, eps, "reference-standard-copy")))
            if plain is None and same is None:
                continue
            goal = {
                "model": name,
                "eps": eps,
                "method": method,
                "against_reference": plain,
                "against_reference_on_copy": same,
                "met": bool(plain and plain["met"]),
            }
            goals.append(goal)
            for what, g in (
                ("reference standard", plain),
                ("reference standard on the copy", same),
            ):
                if g is not None:
                    print(
                        f"{'met' if g['met'] else 'NOT met'}: {name} eps {eps:g} {method}"
                        f"{' (the default version)' if method == 'ours-fast' else ''}: "
                        f"{g['robust_accuracy_points_above']:+.2f} points vs {what}, "
                        f"{g['speedup']}x faster (goal: <= +1 point, >= 2x)"
                    )
    for r in rows:
        if r["outside_ball"]:
            print(
                f"warning: {r['model']} eps {r['eps']:g} {r['method']}: "
                f"{r['outside_ball']} images outside the eps-ball or [0, 1] (max L-inf "
                f"{r['max_linf']}), counted robust"
            )
        reported = r.get("ensemble_reported_robust_by_repeat")
        if reported is not None and reported != r["robust_by_repeat"]:
            print(
                f"warning: {r['model']} eps {r['eps']:g} {r['method']}: the ensemble "
                f"reports {reported} robust images, recomputed {r['robust_by_repeat']}"
            )

    result = {
        "samples": len(x),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "models": args.models,
        "eps": args.eps,
        "methods": methods,
        "robust_cost_samples": args.robust_cost_samples,
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "torchattacks": getattr(torchattacks(), "__version__", None),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "raw_seconds": {
            f"{n} eps {e:g} {m}": [round(t, 3) for t in results[n, e, m].seconds]
            for n, e, m in keys
        },
        "rows": rows,
        "goals": goals,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
