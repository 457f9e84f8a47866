"""An adaptive attack on a classifier guarded by a feature-squeezing detector.

He et al. 2017 ("Adversarial Example Defenses: Ensembles of Weak Defenses are not Strong")
broke feature squeezing by attacking classifier and detector together. Here: PGD on
clamp(margin, max=kappa) - lambda * score(x), where the score is the detector's (max over
squeezers of the L1 softmax distance) and each squeezer is differentiated as the identity
(BPDA, Athalye et al. 2018): s(x) is computed forward, x's gradient passes through.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..attacks.common import check_count, check_inputs, check_positive, eval_mode, margin
from ..attacks.pgd import project, random_start
from .squeezing import Squeezer


def _straight_through(squeezer: Squeezer, x: torch.Tensor) -> torch.Tensor:
    """squeezer(x) forward, identity backward."""
    return x + (squeezer(x) - x).detach()


def detector_score(model: nn.Module, squeezers: Sequence[Squeezer], x: torch.Tensor,
                   logits: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable (BPDA) per-sample detector score in [0, 2]."""
    p = (model(x) if logits is None else logits).softmax(dim=1)
    distances = [(p - model(_straight_through(s, x)).softmax(dim=1)).abs().sum(dim=1)
                 for s in squeezers]
    return torch.stack(distances, dim=1).amax(dim=1)


def bpda_pgd(model: nn.Module, squeezers: Sequence[Squeezer], x: torch.Tensor,
             y: torch.Tensor, *, eps: float, steps: int, step_size: float, threshold: float,
             lam: float = 1.0, kappa: float = 0.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """L-inf PGD against classifier and detector together.

    Maximises min(margin, kappa) - lam * score: once a sample is misclassified by ``kappa``
    only the detector term pulls. A sample is done (and kept) at the first iterate that is
    misclassified with a score at most ``threshold``; otherwise its last misclassified
    iterate (else its final iterate) is returned.
    """
    check_inputs(x, y)
    eps, step_size = check_positive("eps", eps), check_positive("step_size", step_size)
    check_count("steps", steps)
    x, y = x.detach(), y.detach()
    result = x.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    with eval_mode(model), torch.enable_grad():
        ids = torch.arange(len(x), device=x.device)
        x_act, y_act = x, y
        x_adv = random_start(x, eps=eps, norm="linf", generator=generator)
        for step in range(steps + 1):  # steps updates; the last point is checked too
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            score = detector_score(model, squeezers, x_adv, logits)
            gain = margin(logits, y_act).clamp(max=kappa) - lam * score
            (grad,) = torch.autograd.grad(gain.sum(), x_adv)
            x_adv = x_adv.detach()
            wrong = logits.detach().argmax(1) != y_act
            result[ids[wrong]], fooled[ids[wrong]] = x_adv[wrong], True
            keep = ~(wrong & (score.detach() <= threshold))  # fooled and unseen: done
            ids, x_act, y_act = ids[keep], x_act[keep], y_act[keep]
            x_adv, grad = x_adv[keep], grad[keep]
            if ids.numel() == 0 or step == steps:
                break
            x_adv = project(x_adv + step_size * grad.sign(), x_act, eps=eps, norm="linf")
        unsolved = ~fooled[ids]
        result[ids[unsolved]] = x_adv[unsolved]
    return result
