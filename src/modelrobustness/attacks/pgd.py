"""Projected gradient descent (Madry et al. 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", Eq. 2): x_{t+1} = Proj_{B(x, eps) ∩ [0,1]^d}(x_t + a * s(grad L(x_t)))
with s = sign for L-inf and s = g / ||g||_2 for L2.
"""

from __future__ import annotations

import torch
from torch import nn

from ..utils.checks import check_choice, check_int, check_positive
from ..utils.torch import eval_mode
from .base import check_inputs, working_set_ascent
from .losses import LOSSES, is_adversarial, objective

NORMS: tuple[str, ...] = ("linf", "l2")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.ndim - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, *, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` (Madry Eq. 2's Proj), then the box.

    For L-inf the box clamp keeps the point inside the ball; for L2 it can only shrink the
    perturbation's norm, so the result lies in the intersection.
    """
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def random_start(x: torch.Tensor, *, eps: float, norm: str,
                 generator: torch.Generator | None) -> torch.Tensor:
    """A uniform random point of the eps-ball (Madry et al. Sec. 5), clamped to the box."""
    device = generator.device if generator is not None else x.device
    if norm == "linf":
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype)
        delta = (noise.to(x.device) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
        radius = torch.rand(x.shape[0], generator=generator, device=device, dtype=x.dtype)
        dims = x[0].numel()
        direction = direction / _flat_norm(direction).clamp_min(1e-12)
        scale = (eps * radius.pow(1.0 / dims)).view(-1, *([1] * (x.ndim - 1)))
        delta = (direction * scale).to(x.device)
    return (x + delta).clamp(0.0, 1.0)


def _step_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _flat_norm(grad).clamp_min(1e-12)


def _pgd_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: str,
             steps: int, step_size: float, start: bool, loss: str, targeted: bool,
             early_stop: bool, generator: torch.Generator | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One PGD run from one starting point; returns (points, found) per sample.

    A sample's point is its last misclassified iterate, else its final iterate. With
    ``early_stop`` a sample leaves the batch at its first misclassified iterate.
    """
    x_start = random_start(x, eps=eps, norm=norm, generator=generator) if start else x.clone()

    def gain(x_adv: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
        value = objective(logits, labels, loss=loss, targeted=targeted)
        adv = is_adversarial(logits.detach(), labels, targeted=targeted)
        return value, adv if early_stop else torch.zeros_like(adv)

    def step(x_adv: torch.Tensor, grad: torch.Tensor, x_clean: torch.Tensor) -> torch.Tensor:
        return project(x_adv + step_size * _step_direction(grad, norm), x_clean, eps=eps,
                       norm=norm)

    return working_set_ascent(
        model, x, y, x_start, steps=steps, gain=gain, step=step,
        success=lambda logits, labels: is_adversarial(logits, labels, targeted=targeted))


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int,
    step_size: float,
    random_start: bool = True,
    restarts: int = 1,
    loss: str = "ce",
    targeted: bool = False,
    early_stop: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD attack on images ``x`` in [0, 1] with labels ``y`` (targets when ``targeted``).

    Per-sample objectives (``loss``: cross-entropy or Carlini-Wagner margin) are summed, so a
    sample's trajectory never depends on the rest of the batch. Every iterate is projected
    onto the eps-ball (``norm``: ``linf`` or ``l2``) and the [0, 1] box. Per sample the last
    misclassified iterate is returned (the final iterate when none was); ``restarts`` further
    runs from new random starts attack only the samples not yet fooled. ``early_stop`` drops
    a sample from the batch at its first misclassified iterate: the same samples are fooled,
    with fewer forward/backward passes. ``generator`` draws the random starts.

    The model runs in eval mode (its mode is restored afterwards); gradients are taken with
    respect to the input only, and ``x`` is not modified.
    """
    check_inputs(x, y)
    eps = check_positive("eps", eps)
    step_size = check_positive("step_size", step_size)
    check_int("steps", steps)
    check_int("restarts", restarts)
    check_choice("norm", norm, NORMS)
    check_choice("loss", loss, LOSSES)
    x, y = x.detach(), y.detach()
    result = x.clone()
    solved = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    with eval_mode(model), torch.enable_grad():
        for _ in range(restarts):
            todo = (~solved).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            points, found = _pgd_run(model, x[todo], y[todo], eps=eps, norm=norm,
                                     steps=steps, step_size=step_size, start=random_start,
                                     loss=loss, targeted=targeted, early_stop=early_stop,
                                     generator=generator)
            result[todo] = points
            solved[todo] = found
    return result
