"""The PGD evaluation of stage ``attack@<model>``: the headline attack at ``eps`` with each
loss (their per-sample worst case), and the robustness curve over ``eps_list``."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.ball import BUDGET, LINF_BUDGET, SampleGenerators
from ..attacks.losses import LOSSES
from ..attacks.pgd import NORMS, pgd
from ..utils.checks import (
    Boolean,
    Integer,
    InvalidValue,
    ListOf,
    Number,
    OneOf,
    check_fields,
    ruled,
)
from ..utils.distributed import SINGLE, Ranks
from ..utils.torch import predict_labels
from .ensemble import EnsembleMember, ensemble_outcome, run_ensemble
from .harness import AttackOutcome, SampleSeeds, robustness_curve

POSITIVE = Number(low=0.0, closed_low=False)


@dataclass(frozen=True)
class PGDConfig:
    """The attack at ``eps`` and the curve over ``eps_list``.

    The curve uses the step size ``step_size * eps / self.eps`` at each eps and the losses
    ``curve_losses`` (each on what the previous one missed).
    """

    eps: float = ruled(BUDGET)
    eps_list: tuple[float, ...] = ruled(ListOf(BUDGET, unique=True))
    norm: str = ruled(OneOf(NORMS))
    steps: int = ruled(Integer(minimum=1))
    step_size: float = ruled(POSITIVE)
    restarts: int = ruled(Integer(minimum=1))
    random_start: bool = ruled(Boolean())
    early_stop: bool = ruled(Boolean())
    losses: tuple[str, ...] = ruled(ListOf(OneOf(LOSSES), unique=True))
    curve_losses: tuple[str, ...] = ruled(ListOf(OneOf(LOSSES), unique=True))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.norm == "linf":  # [0, 1] pixels: a larger L-inf ball is the whole box
            for name, values in (("eps", [self.eps]), ("eps_list", self.eps_list)):
                for i, eps in enumerate(values):
                    if eps > 1:
                        raise InvalidValue(
                            name if name == "eps" else f"{name}[{i}]", eps, LINF_BUDGET.expected
                        )

    def attack_options(self, *, loss: str, eps: float | None = None) -> dict:
        """Keyword options of :func:`~modelrobustness.attacks.pgd` with ``loss``: the
        headline attack, or with ``eps`` the attack at that budget, its step size scaled by
        ``eps / self.eps`` (as on the curve)."""
        step_size = self.step_size if eps is None else self.step_size * eps / self.eps
        return {
            "eps": self.eps if eps is None else eps,
            "norm": self.norm,
            "steps": self.steps,
            "step_size": step_size,
            "random_start": self.random_start,
            "restarts": self.restarts,
            "loss": loss,
            "early_stop": self.early_stop,
        }


def _curve_attack(
    model: nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    eps: float,
    *,
    config: PGDConfig,
    generator: SampleGenerators,
) -> torch.Tensor:
    """PGD at ``eps`` with each curve loss in turn, later losses attacking only what the
    earlier ones missed (each sample drawing from its own generator)."""
    out = xb
    alive = torch.ones(len(xb), dtype=torch.bool, device=xb.device)
    for loss in config.curve_losses:
        index = alive.nonzero().squeeze(1)
        if index.numel() == 0:
            break
        adv = pgd(
            model,
            xb[index],
            yb[index],
            **config.attack_options(eps=eps, loss=loss),
            generator=generator[index.cpu()],
        )
        out = out.clone() if out is xb else out
        out[index] = adv
        alive[index] = (
            predict_labels(model, adv, batch_size=len(adv), device=adv.device).to(alive.device)
            == yb[index]
        )
    return out


def evaluate_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    config: PGDConfig,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    ranks: Ranks = SINGLE,
) -> AttackOutcome:
    """PGD at ``config.eps`` with each loss in turn, and the curve over ``eps_list``.

    At ``config.eps`` itself the curve reuses the headline run when its losses are among
    the headline's (the same attack: it would only add a random restart), so its point
    there is the headline's ``robust_accuracy`` or, where a smaller eps of the curve fooled
    more samples, lower.

    The losses form an ensemble (:mod:`.ensemble`): each attacks only the samples the
    earlier ones left robust, so ``robust_accuracy`` is the per-sample worst case and
    ``robust_accuracy_by_attack`` the robust accuracy after each loss (the first loss's is
    its own). A sample's saved image comes from the loss that fooled it.

    Every sample draws its random starts from its own streams (:class:`~.harness.SampleSeeds`
    of ``seed``); ``ranks`` shares the batches out among ``torchrun``'s processes, with the
    same result as one process.
    """
    seeds = SampleSeeds.first(seed, len(x))
    start = time.perf_counter()
    members = [
        EnsembleMember(
            f"pgd_{loss}", functools.partial(pgd, model, **config.attack_options(loss=loss))
        )
        for loss in config.losses
    ]
    result = run_ensemble(
        model, x, y, members, batch_size=batch_size, device=device, seeds=seeds, ranks=ranks
    )
    attack_seconds = time.perf_counter() - start
    fooled = result.clean_correct & ~result.robust
    curve = robustness_curve(
        model,
        x,
        y,
        eps_list=config.eps_list,
        attack=functools.partial(_curve_attack, model, config=config),
        batch_size=batch_size,
        device=device,
        known=(config.eps, fooled),
        known_attacked=set(config.curve_losses) <= set(config.losses),
        seeds=seeds,
        ranks=ranks,
    )
    seconds = time.perf_counter() - start
    settings = {
        "samples": len(x),
        "eps": config.eps,
        "norm": config.norm,
        "steps": config.steps,
        "losses": list(config.losses),
        "curve": {f"{row['eps']:g}": row["robust_accuracy"] for row in curve},
        "attack_seconds": round(attack_seconds, 3),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(x) / max(attack_seconds, 1e-9), 1),
    }
    return ensemble_outcome(result, x, y, metrics=settings, curve=curve)
