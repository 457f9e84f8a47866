"""What every attack shares: the input checks, and the working-set loop of the iterative
gradient attacks (PGD, BPDA), where a sample leaves the batch once it is done."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..utils.checks import InvalidValue

# (x_adv, logits, labels) -> (per-sample gain to ascend, per-sample "done" flags)
GainFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
# (x_adv, gradient of the gain, clean images) -> the next iterate
StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# (logits, labels) -> per-sample success flags
SuccessFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Images must be floats in [0, 1] (N x ...); labels int64 of shape (N,)."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise InvalidValue("x", type(x).__name__, "a floating-point tensor of images in [0, 1]")
    if x.ndim < 2:
        raise InvalidValue("x.shape", tuple(x.shape), "a batch N x ...")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise InvalidValue(
            "x",
            f"a tensor with values in [{float(x.min()):.4g}, {float(x.max()):.4g}]",
            "values in [0, 1] (normalization belongs inside the model)",
        )
    if not torch.is_tensor(y) or y.dtype != torch.long or y.shape != (x.shape[0],):
        raise InvalidValue(
            "y",
            f"{getattr(y, 'dtype', type(y))} {tuple(getattr(y, 'shape', ()))}",
            f"an int64 tensor of shape ({x.shape[0]},)",
        )
    if y.device != x.device:
        raise InvalidValue("y.device", str(y.device), f"x's device {x.device}")


def working_set_ascent(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_start: torch.Tensor,
    *,
    steps: int,
    gain: GainFn,
    step: StepFn,
    success: SuccessFn,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient ascent from ``x_start`` on a shrinking working set; (points, found).

    Each of ``steps`` iterations evaluates the current iterates, records every successful
    one as its sample's point, drops the samples ``gain`` marks done and moves the others
    with ``step``; the final iterates are evaluated too. A sample's point is its last
    successful iterate, else its final iterate. Per-sample gains are summed, so a sample's
    trajectory never depends on the rest of the batch. Call it with gradients enabled.
    """
    n = x.shape[0]
    result = x.clone()
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    ids = torch.arange(n, device=x.device)
    x_act, y_act, x_adv = x, y, x_start
    for k in range(steps + 1):
        last = k == steps  # the final iterate is only checked
        with torch.set_grad_enabled(not last):
            x_adv.requires_grad_(not last)
            logits = model(x_adv)
            value, done = gain(x_adv, logits, y_act)
            grad = None if last else torch.autograd.grad(value.sum(), x_adv)[0]
        x_adv = x_adv.detach()
        hit = success(logits.detach(), y_act)
        result[ids[hit]] = x_adv[hit]
        found[ids[hit]] = True
        if last:
            break
        if bool(done.any()):
            keep = ~done
            ids, x_act, y_act = ids[keep], x_act[keep], y_act[keep]
            x_adv, grad = x_adv[keep], grad[keep]
            if ids.numel() == 0:
                return result, found
        x_adv = step(x_adv, grad, x_act)
    never = ~found[ids]  # never successful: the final iterate
    result[ids[never]] = x_adv[never]
    return result, found
