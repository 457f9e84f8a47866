"""The AutoAttack evaluation behind ``attack_autoattack`` (Croce & Hein 2020): APGD with
cross-entropy, APGD with the targeted DLR loss over the model's top classes, and the
gradient-free Square attack, as a per-sample worst case (:mod:`.ensemble`). AutoAttack's
``standard`` version also runs FAB-T between APGD-T and Square; we leave it out (on the
models RobustBench lists it adds almost nothing after APGD-T, and it is not implemented
here), so our ``standard`` is an upper bound on AutoAttack's robust accuracy.

Beside the ensemble, the evidence the gradient-masking checks need (:mod:`.checks`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.apgd import apgd
from ..attacks.ball import BUDGET
from ..attacks.square import square
from ..utils.checks import Integer, Nullable, OneOf, check_fields, ruled
from ..utils.distributed import SINGLE, Ranks
from ..utils.torch import predict_logits
from .checks import masking_evidence
from .ensemble import EnsembleMember, ensemble_outcome, run_ensemble
from .harness import AttackOutcome, SampleSeeds

# Square (no gradient, no graph kept) attacks this many times attack.batch_size at once
SQUARE_BATCH_FACTOR = 4

# what each version runs: APGD iterations, APGD-T target classes, Square iterations
VERSIONS: dict[str, dict[str, int]] = {
    "standard": {"steps": 100, "n_target_classes": 9, "square_queries": 5000},
    "fast": {"steps": 25, "n_target_classes": 3, "square_queries": 500},
}


@dataclass(frozen=True)
class AutoAttackConfig:
    """The ensemble's settings; ``None`` takes the value of ``version`` (:data:`VERSIONS`)
    and ``eps`` None the PGD budget (resolved by the stage)."""

    eps: float | None = ruled(Nullable(BUDGET))
    version: str = ruled(OneOf(tuple(VERSIONS)))
    steps: int | None = ruled(Nullable(Integer(minimum=1)))
    n_target_classes: int | None = ruled(Nullable(Integer(minimum=1)))
    square_queries: int | None = ruled(Nullable(Integer(minimum=1)))

    def __post_init__(self) -> None:
        check_fields(self)

    def setting(self, name: str) -> int:
        """``steps``, ``n_target_classes`` or ``square_queries``: the key, else the
        version's value."""
        value = getattr(self, name)
        return VERSIONS[self.version][name] if value is None else value


def ensemble_members(
    model: nn.Module,
    *,
    config: AutoAttackConfig,
    eps: float,
    norm: str,
    classes: int,
) -> list[EnsembleMember]:
    """APGD-CE, APGD-T at each target rank 2..n_target_classes + 1 (at most the number of
    classes; none with fewer than 4 classes, which targeted DLR needs), Square (in batches
    :data:`SQUARE_BATCH_FACTOR` times as large). Each draws from the generators
    :func:`~.ensemble.run_ensemble` gives it (``generator=``)."""
    steps = config.setting("steps")
    common = {"eps": eps, "norm": norm, "steps": steps, "early_stop": True}
    members = [EnsembleMember("apgd_ce", functools.partial(apgd, model, loss="ce", **common))]
    if classes >= 4:
        last = min(config.setting("n_target_classes") + 1, classes)
        members += [
            EnsembleMember(
                "apgd_t",
                functools.partial(
                    apgd, model, loss="dlr", targeted=True, target_rank=rank, **common
                ),
            )
            for rank in range(2, last + 1)
        ]
    members.append(
        EnsembleMember(
            "square",
            functools.partial(
                square,
                model,
                eps=eps,
                norm=norm,
                queries=config.setting("square_queries"),
            ),
            gradient_free=True,
            batch_factor=SQUARE_BATCH_FACTOR,
        )
    )
    return members


def evaluate_autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    config: AutoAttackConfig,
    eps: float,
    norm: str,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    ranks: Ranks = SINGLE,
) -> AttackOutcome:
    """The ensemble at ``eps`` on the clean-correct samples of ``x``, and the masking
    evidence. ``robust_accuracy_by_attack`` is cumulative, in the ensemble's order;
    ``fooled_by`` counts the samples each attack was the first to break. Each sample draws
    from its own streams of ``seed``; ``ranks`` shares the batches out among processes
    (:mod:`.harness`)."""
    start = time.perf_counter()
    logits = predict_logits(model, x, batch_size=batch_size, device=device)
    members = ensemble_members(model, config=config, eps=eps, norm=norm, classes=logits.shape[1])
    result = run_ensemble(
        model,
        x,
        y,
        members,
        batch_size=batch_size,
        device=device,
        clean_predictions=logits.argmax(1),
        seeds=SampleSeeds.first(seed, len(x)),
        ranks=ranks,
    )
    attack_seconds = time.perf_counter() - start
    evidence = masking_evidence(
        model,
        x,
        y,
        eps=eps,
        norm=norm,
        batch_size=batch_size,
        device=device,
        clean_correct=result.clean_correct,
    )
    settings = {
        "samples": len(x),
        "eps": eps,
        "norm": norm,
        "version": config.version,
        "steps": config.setting("steps"),
        "n_target_classes": config.setting("n_target_classes"),
        "square_queries": config.setting("square_queries"),
        "masking_evidence": evidence,
        "seconds_by_attack": result.seconds,
        "attack_seconds": round(attack_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
    }
    after = result.robust_accuracy_after()
    curve = [
        {"attack": "clean", "robust_accuracy": float(result.clean_correct.double().mean())},
        *({"attack": name, "robust_accuracy": after[name]} for name in result.names),
    ]
    return ensemble_outcome(result, x, y, metrics=settings, curve=curve)
