"""Projected gradient descent (Madry et al. 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", Eq. 2): x_{t+1} = Proj_{B(x, eps) ∩ [0,1]^d}(x_t + a * s(grad L(x_t)))
with s = sign for L-inf and s = g / ||g||_2 for L2.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (
    LOSSES,
    check_count,
    check_inputs,
    check_positive,
    eval_mode,
    is_adversarial,
    objective,
)

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
    n = x.shape[0]
    result = x.clone()
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    x_adv = random_start(x, eps=eps, norm=norm, generator=generator) if start else x.clone()
    # The working set: every sample, shrunk (with early_stop) as samples are solved.
    ids = torch.arange(n, device=x.device)
    x_act, y_act = x, y
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        gain = objective(logits, y_act, loss=loss, targeted=targeted)
        (grad,) = torch.autograd.grad(gain.sum(), x_adv)
        x_adv = x_adv.detach()
        adv = is_adversarial(logits.detach(), y_act, targeted=targeted)
        if adv.any():
            result[ids[adv]] = x_adv[adv]
            found[ids[adv]] = True
            if early_stop:
                keep = ~adv
                ids, x_act, y_act = ids[keep], x_act[keep], y_act[keep]
                x_adv, grad = x_adv[keep], grad[keep]
                if ids.numel() == 0:
                    return result, found
        x_adv = project(x_adv + step_size * _step_direction(grad, norm), x_act, eps=eps,
                        norm=norm)
    with torch.no_grad():  # the last step's point has not been checked yet
        adv = is_adversarial(model(x_adv), y_act, targeted=targeted)
    result[ids[adv]] = x_adv[adv]
    found[ids[adv]] = True
    never = ~found[ids]  # fooled at no iterate: return the final one
    result[ids[never]] = x_adv[never]
    return result, found


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
    check_count("steps", steps)
    check_count("restarts", restarts)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
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
