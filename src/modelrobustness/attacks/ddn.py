"""Decoupled Direction and Norm (Rony et al. 2019, "Decoupling Direction and Norm for
Efficient Gradient-Based L2 Adversarial Attacks and Defenses", Algorithm 1).

Each step moves along the normalised gradient (direction), then rescales the perturbation
to a norm budget eps that shrinks by (1 - gamma) while the current point is adversarial and
grows by (1 + gamma) while it is not (norm), projects onto the [0, 1] box and quantizes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checks import check_fraction, check_int, check_positive
from ..utils.torch import eval_mode
from .ball import Randomness, random_draws, take
from .base import check_inputs
from .losses import is_adversarial


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (like.ndim - 1)))


def cosine_step_size(step: int, steps: int, *, start: float = 1.0, end: float = 0.01) -> float:
    """Step size alpha_k annealed from ``start`` to ``end`` with a cosine (Sec. 4)."""
    return end + (start - end) * (1 + math.cos(math.pi * step / steps)) / 2


def ddn(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 100,
    init_norm: float = 1.0,
    gamma: float = 0.05,
    levels: int | None = 256,
    targeted: bool = False,
    generator: Randomness = None,
) -> torch.Tensor:
    """DDN L2 attack on images ``x`` in [0, 1]; returns the smallest adversarial found.

    Algorithm 1 per step k (alpha_k cosine-annealed from 1 to 0.01):
    g = grad of the cross-entropy (ascent, or descent towards the target when targeted);
    delta <- delta + alpha_k g / ||g||_2; eps <- (1 - gamma) eps if x + delta_{k-1} is
    adversarial else (1 + gamma) eps (capped at the largest possible L2 distance);
    delta <- eps delta / ||delta||_2; x + delta clamped to [0, 1] and quantized to
    ``levels`` grey levels. Per sample the adversarial point with the smallest L2 norm seen is
    kept (clean images already misclassified are returned unchanged); samples never fooled
    are returned unchanged too. The only random draw is a random direction where the
    gradient is exactly zero (a saturated softmax), taken from ``generator``.
    """
    check_inputs(x, y)
    check_int("steps", steps)
    init_norm = check_positive("init_norm", init_norm)
    gamma = check_fraction("gamma", gamma)
    check_int("levels", levels, minimum=2, allow_none=True)
    x, y = x.detach(), y.detach()
    n = x.shape[0]
    sign = -1.0 if targeted else 1.0
    x_adv = x.clone()
    eps = torch.full((n,), init_norm, device=x.device, dtype=x.dtype)
    worst_norm = torch.maximum(x, 1 - x).flatten(1).norm(p=2, dim=1)
    best_norm = torch.full((n,), float("inf"), device=x.device, dtype=x.dtype)
    best = x.clone()
    with eval_mode(model), torch.enable_grad():
        for k in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            loss = sign * F.cross_entropy(logits, y, reduction="none")
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
            x_adv = x_adv.detach()
            delta = x_adv - x
            norm = delta.flatten(1).norm(p=2, dim=1)
            adv = is_adversarial(logits.detach(), y, targeted=targeted)
            better = adv & (norm < best_norm)
            best_norm = torch.where(better, norm, best_norm)
            best = torch.where(_view(better, x), x_adv, best)

            grad_norm = grad.flatten(1).norm(p=2, dim=1)
            zero = grad_norm < 1e-12
            if zero.any():  # no direction: take a random one
                flat = grad[zero]
                grad[zero] = random_draws("normal", flat, take(generator, zero.cpu()))
                grad_norm = grad.flatten(1).norm(p=2, dim=1)
            delta = delta + cosine_step_size(k, steps) * grad / _view(grad_norm, x)
            eps = torch.where(adv, (1 - gamma) * eps, (1 + gamma) * eps)
            eps = torch.minimum(eps, worst_norm)
            delta = delta * _view(eps / delta.flatten(1).norm(p=2, dim=1).clamp_min(1e-12), x)
            x_adv = (x + delta).clamp(0.0, 1.0)
            if levels is not None:
                x_adv = torch.round(x_adv * (levels - 1)) / (levels - 1)
        with torch.no_grad():  # the last step's point has not been checked yet
            adv = is_adversarial(model(x_adv), y, targeted=targeted)
            norm = (x_adv - x).flatten(1).norm(p=2, dim=1)
            better = adv & (norm < best_norm)
            best = torch.where(_view(better, x), x_adv, best)
    return best
