"""Adversarial training's per-batch perturbations, for the one fit loop
(:func:`~.fit.fit`'s ``perturb``): FGSM with a random start (Wong, Rice & Kolter 2020),
PGD (Madry et al. 2018) and TRADES (Zhang et al. 2019), with eps ramped up from 0 over the
first epochs.

Every perturbation is found on the model in eval mode (batch norm uses its running
statistics, which the search does not update; the mode is restored), with gradients taken
with respect to the input only, and every point is projected onto the eps-ball and the
[0, 1] box (:mod:`..attacks.ball`). The fit loop then computes the training loss on the
returned inputs in train mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.ball import NORMS, ascent_step, project, random_draws, random_start
from ..utils.checks import (
    Integer,
    InvalidValue,
    Nullable,
    Number,
    OneOf,
    check_fields,
    check_non_negative,
    ruled,
)
from ..utils.torch import eval_mode
from .fit import Perturbation, PerturbedBatch

METHODS: tuple[str, ...] = ("fgsm_rs", "pgd", "trades")
TRADES_START_STD = 0.001  # Zhang et al.'s start: x + 0.001 * N(0, I)


@dataclass(frozen=True)
class AdversarialConfig:
    """One adversarial training method and its settings.

    ``alpha`` is the step size (None: 1.25 * eps for ``fgsm_rs``, Wong et al.'s choice, and
    2.5 * eps / ``steps`` for ``pgd`` and ``trades``, Madry et al.'s); ``steps`` is used by
    ``pgd`` and ``trades``, ``beta`` by ``trades``. The budget ramps linearly from 0 to
    ``eps`` over the first ``warmup_epochs`` epochs (0: the full budget at once).
    """

    method: str = ruled(OneOf(METHODS))
    eps: float = ruled(Number(low=0.0, closed_low=False))
    norm: str = ruled(OneOf(NORMS))
    alpha: float | None = ruled(Nullable(Number(low=0.0, closed_low=False)))
    steps: int = ruled(Integer(minimum=1))
    beta: float = ruled(Number(low=0.0))
    warmup_epochs: float = ruled(Number(low=0.0))

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def step_size(self) -> float:
        """``alpha``, else the method's default."""
        if self.alpha is not None:
            return self.alpha
        return 1.25 * self.eps if self.method == "fgsm_rs" else 2.5 * self.eps / self.steps


def ramped_eps(eps: float, *, progress: float, warmup_epochs: float) -> float:
    """The budget after ``progress`` epochs: linear from 0 to ``eps`` over
    ``warmup_epochs``, then ``eps``."""
    check_non_negative("progress", progress)
    if warmup_epochs <= 0:
        return eps
    return eps * min(1.0, progress / warmup_epochs)


def _ascend(
    model: nn.Module,
    x: torch.Tensor,
    x_start: torch.Tensor,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    *,
    eps: float,
    norm: str,
    steps: int,
    step_size: float,
) -> torch.Tensor:
    """``steps`` steepest-ascent steps of ``loss_of(logits)`` (summed over the batch) from
    ``x_start``, each projected onto the eps-ball around ``x`` and the box (Madry et al.
    2018, Eq. 2); the final iterate."""
    x_adv = x_start.detach()
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_of(model(x_adv)), x_adv)
            x_adv = ascent_step(x_adv.detach(), grad, x, step_size=step_size, eps=eps, norm=norm)
    return x_adv.detach()


def _cross_entropy_to(y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda logits: F.cross_entropy(logits, y, reduction="sum")


def fgsm_rs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    norm: str = "linf",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """FGSM with a random start (Wong, Rice & Kolter 2020, Algorithm 3): a uniform point
    of the eps-ball, one step of size ``alpha`` along the sign of the cross-entropy's
    gradient (L2: along the gradient), projected back onto the ball and the box."""
    start = random_start(x, eps=eps, norm=norm, generator=generator)
    return _ascend(
        model, x, start, _cross_entropy_to(y), eps=eps, norm=norm, steps=1, step_size=alpha
    )


def pgd_training_point(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Madry et al. 2018's training point: ``steps`` PGD steps of size ``alpha`` on the
    cross-entropy from a uniform random start; the final iterate (the attack
    :func:`~modelrobustness.attacks.pgd` returns the last misclassified one instead)."""
    start = random_start(x, eps=eps, norm=norm, generator=generator)
    return _ascend(
        model, x, start, _cross_entropy_to(y), eps=eps, norm=norm, steps=steps, step_size=alpha
    )


def trades_point(
    model: nn.Module,
    x: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """TRADES' inner maximisation (Zhang et al. 2019, Algorithm 1): from x + 0.001 N(0, I),
    ``steps`` steps of size ``alpha`` ascending KL(f(x) || f(x')), the clean prediction
    held fixed; labels are not used."""
    with eval_mode(model), torch.no_grad():
        clean = F.softmax(model(x), dim=1)
    noise = random_draws("normal", x, generator)
    start = project(x + TRADES_START_STD * noise, x, eps=eps, norm=norm)

    def kl_to_clean(logits: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(logits, dim=1), clean, reduction="sum")

    return _ascend(model, x, start, kl_to_clean, eps=eps, norm=norm, steps=steps, step_size=alpha)


def trades_term(
    model: nn.Module, logits: torch.Tensor, *, x_adv: torch.Tensor, beta: float
) -> torch.Tensor:
    """TRADES' robust regulariser (Zhang et al. 2019, Eq. 5): beta times the batch mean of
    KL(f(x) || f(x_adv)), ``logits`` being f(x) (gradients flow through both)."""
    log_adv = F.log_softmax(model(x_adv), dim=1)
    return beta * F.kl_div(log_adv, F.softmax(logits, dim=1), reduction="batchmean")


def perturbation(config: AdversarialConfig) -> Perturbation:
    """The fit loop's per-batch perturbation for ``config``'s method, at the ramped
    budget."""

    def perturb(
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        progress: float,
        generator: torch.Generator | None = None,
    ) -> PerturbedBatch:
        eps = ramped_eps(config.eps, progress=progress, warmup_epochs=config.warmup_epochs)
        if eps <= 0.0:
            return PerturbedBatch(x=x)
        alpha = config.step_size * eps / config.eps  # the step scales with the budget
        common = {"eps": eps, "alpha": alpha, "norm": config.norm, "generator": generator}
        if config.method == "fgsm_rs":
            return PerturbedBatch(x=fgsm_rs(model, x, y, **common))
        if config.method == "pgd":
            return PerturbedBatch(x=pgd_training_point(model, x, y, steps=config.steps, **common))
        if config.method == "trades":
            x_adv = trades_point(model, x, steps=config.steps, **common)
            return PerturbedBatch(
                x=x, extra_loss=functools.partial(trades_term, x_adv=x_adv, beta=config.beta)
            )
        raise InvalidValue("method", config.method, f"one of {', '.join(METHODS)}")

    return perturb
