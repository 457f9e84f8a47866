"""An adaptive attack on a classifier guarded by a detector (BPDA).

He et al. 2017 ("Adversarial Example Defenses: Ensembles of Weak Defenses are not Strong")
broke feature squeezing by attacking classifier and detector together. Here: L-inf PGD on
clamp(margin, max=kappa) - lambda * score(x), where ``score`` is the detector's score made
differentiable by the caller, e.g. each squeezer differentiated as the identity (Backward
Pass Differentiable Approximation, Athalye et al. 2018, Sec. 4.1). The attack knows nothing
of any particular detector: the score is passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..utils.checks import check_int, check_non_negative, check_positive
from ..utils.torch import eval_mode
from .ball import ascent_step, random_start
from .base import check_inputs, working_set_ascent
from .losses import is_adversarial, margin

# (x_adv, logits of the classifier at x_adv) -> differentiable per-sample detector score
DetectorScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bpda_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    score: DetectorScore,
    eps: float,
    steps: int,
    step_size: float,
    threshold: float,
    lam: float = 1.0,
    kappa: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD against classifier and detector together.

    Maximises min(margin, kappa) - lam * score: once a sample is misclassified by ``kappa``
    only the detector term pulls. A sample is done (and kept) at the first iterate that is
    misclassified with a score at most ``threshold``; otherwise its last misclassified
    iterate (else its final iterate) is returned. The random start draws from ``generator``.
    """
    check_inputs(x, y)
    eps, step_size = check_positive("eps", eps), check_positive("step_size", step_size)
    check_int("steps", steps)
    check_non_negative("lam", lam)
    x, y = x.detach(), y.detach()

    def gain(x_adv: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
        detector = score(x_adv, logits)
        wrong = is_adversarial(logits.detach(), labels, targeted=False)
        done = wrong & (detector.detach() <= threshold)  # fooled and unseen
        return margin(logits, labels).clamp(max=kappa) - lam * detector, done

    def step(x_adv: torch.Tensor, grad: torch.Tensor, x_clean: torch.Tensor) -> torch.Tensor:
        return ascent_step(x_adv, grad, x_clean, step_size=step_size, eps=eps, norm="linf")

    with eval_mode(model), torch.enable_grad():
        x_start = random_start(x, eps=eps, norm="linf", generator=generator)
        result, _ = working_set_ascent(
            model,
            x,
            y,
            x_start,
            steps=steps,
            gain=gain,
            step=step,
            success=lambda logits, labels: is_adversarial(logits, labels, targeted=False),
        )
    return result
