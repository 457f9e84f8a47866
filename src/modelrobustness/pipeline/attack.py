"""Stage ``attack@<model>``: PGD, the AutoAttack ensemble and DDN on the first
``attack.samples`` test images of a model, one after the other in one process.

One stage per model rather than one per attack and model: each stage process pays about 4 s
on 2 cores before it attacks anything (starting Python, importing torch, DVC's bookkeeping);
the nine per-attack stages took 116 s of a from-scratch run, these three 75 s
(docs/benchmarks.md). The price: a
changed parameter of one attack reruns the other two on that model (with the same results,
so nothing downstream of them reruns). Every attack's parameters are read and checked before
the first one runs, so a bad one stops the stage before it writes anything."""

from __future__ import annotations

from .attack_autoattack import autoattack_run
from .attack_ddn import ddn_run
from .attack_pgd import pgd_run
from .attack_stage import run_attacks
from .params import load_params


def main(model_name: str) -> None:
    params = load_params()
    runs = [pgd_run(params), autoattack_run(params), ddn_run(params)]
    run_attacks(params, model_name, runs)
