"""Projected gradient descent (Madry et al. 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks", Eq. 2): x_{t+1} = Proj_{B(x, eps) ∩ [0,1]^d}(x_t + a * s(grad L(x_t)))
with s = sign for L-inf and s = g / ||g||_2 for L2.
"""

from __future__ import annotations

import torch
from torch import nn

from ..utils.checks import check_choice, check_int, check_positive
from ..utils.torch import eval_mode
from .ball import NORMS, Randomness, ascent_step, random_start, take
from .base import check_inputs, working_set_ascent
from .losses import LOSSES, is_adversarial, objective


def _pgd_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    steps: int,
    step_size: float,
    start: bool,
    loss: str,
    targeted: bool,
    early_stop: bool,
    generator: Randomness,
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
        return ascent_step(x_adv, grad, x_clean, step_size=step_size, eps=eps, norm=norm)

    return working_set_ascent(
        model,
        x,
        y,
        x_start,
        steps=steps,
        gain=gain,
        step=step,
        success=lambda logits, labels: is_adversarial(logits, labels, targeted=targeted),
    )


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
    generator: Randomness = None,
) -> torch.Tensor:
    """PGD attack on images ``x`` in [0, 1] with labels ``y`` (targets when ``targeted``).

    Per-sample objectives (``loss``: cross-entropy or Carlini-Wagner margin) are summed, so a
    sample's trajectory never depends on the rest of the batch. Every iterate is projected
    onto the eps-ball (``norm``: ``linf`` or ``l2``) and the [0, 1] box. Per sample the last
    misclassified iterate is returned (the final iterate when none was); ``restarts`` further
    runs from new random starts attack only the samples not yet fooled. ``early_stop`` drops
    a sample from the batch at its first misclassified iterate: the same samples are fooled,
    with fewer forward/backward passes. ``generator`` draws the random starts (one
    generator, or one per sample: :class:`~.ball.SampleGenerators`).

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
            points, found = _pgd_run(
                model,
                x[todo],
                y[todo],
                eps=eps,
                norm=norm,
                steps=steps,
                step_size=step_size,
                start=random_start,
                loss=loss,
                targeted=targeted,
                early_stop=early_stop,
                generator=take(generator, todo),
            )
            result[todo] = points
            solved[todo] = found
    return result
