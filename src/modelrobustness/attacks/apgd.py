"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", Algorithm 1): PGD with momentum whose step size
starts at 2 * eps and halves at checkpoints when progress stalls, restarting from the best
point found. Its losses are cross-entropy and the difference of logits ratio (DLR, Sec. 4),
untargeted or targeted at the model's k-th most likely class (APGD-T).
"""

from __future__ import annotations

import torch
from torch import nn

from ..utils.checks import (
    Boolean,
    InvalidValue,
    Number,
    check_choice,
    check_int,
    check_positive,
)
from ..utils.torch import eval_mode
from .ball import NORMS, Randomness, ascent_step, boundary_start, per_sample, project, take
from .base import check_inputs
from .losses import APGD_LOSSES, dlr, targeted_dlr

MOMENTUM = 0.75  # alpha of Algorithm 1


def checkpoints(steps: int) -> list[int]:
    """The iterations after which the step size is reviewed (Algorithm 1's set W).

    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06): the first window
    is 22% of ``steps`` and each next one 3% shorter, down to 6%. Computed in whole
    iterations as the authors' code does (``int(0.22 * steps)``, ...), each at least 1.
    """
    window = max(int(0.22 * steps), 1)
    shortest, shrink = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    points, at = [], window
    while at <= steps:
        points.append(at)
        window = max(window - shrink, shortest)
        at += window
    return points


def apgd_loss(
    logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None, *, loss: str
) -> torch.Tensor:
    """Per-sample objective to maximise: CE or DLR to the label (untargeted), or minus CE to
    the target / targeted DLR (Eq. 6) when ``targets`` are given."""
    if targets is None:
        if loss == "ce":
            return nn.functional.cross_entropy(logits, labels, reduction="none")
        return dlr(logits, labels)
    if loss == "ce":
        return -nn.functional.cross_entropy(logits, targets, reduction="none")
    return targeted_dlr(logits, labels, targets)


def _value_and_grad(
    model: nn.Module,
    x_adv: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor | None,
    *,
    loss: str,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(per-sample loss, predictions, gradient of the loss or None) at ``x_adv``."""
    with torch.set_grad_enabled(need_grad):
        x_adv = x_adv.detach().requires_grad_(need_grad)
        logits = model(x_adv)
        value = apgd_loss(logits, labels, targets, loss=loss)
        grad = torch.autograd.grad(value.sum(), x_adv)[0] if need_grad else None
    return value.detach(), logits.detach().argmax(1), grad


def _apgd_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    targets: torch.Tensor | None,
    *,
    eps: float,
    norm: str,
    steps: int,
    loss: str,
    rho: float,
    early_stop: bool,
    generator: Randomness,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One run of Algorithm 1 from a random point on the ball's boundary; (points, found).

    A sample's point is its last misclassified iterate, else the iterate of highest loss.
    Every piece of state (step size, best point, counters) is per sample, so a sample's
    trajectory never depends on the rest of the batch. With ``early_stop`` a sample leaves
    the working set at its first misclassified iterate.
    """
    n = x.shape[0]
    result, found = x.clone(), torch.zeros(n, dtype=torch.bool, device=x.device)
    reviews = set(checkpoints(steps))
    window_start = 0
    ids = torch.arange(n, device=x.device)
    x_cur = boundary_start(x, eps=eps, norm=norm, generator=generator)
    f_cur, pred, grad = _value_and_grad(model, x_cur, y, targets, loss=loss, need_grad=steps > 0)
    s = {  # the working set's state, one row per sample
        "x": x,
        "y": y,
        "x_cur": x_cur,
        "x_prev": x_cur,
        "grad": grad,
        "f_cur": f_cur,
        "x_best": x_cur,
        "grad_best": grad,
        "f_best": f_cur,
        "eta": torch.full((n,), 2.0 * eps, dtype=x.dtype, device=x.device),
        "increases": torch.zeros(n, dtype=torch.long, device=x.device),
        "f_best_at_review": f_cur,
        "reduced_at_review": torch.ones(n, dtype=torch.bool, device=x.device),
    }
    if targets is not None:
        s["targets"] = targets
    for k in range(steps + 1):
        hit = pred != s["y"]
        result[ids[hit]], found[ids[hit]] = s["x_cur"][hit], True
        if k == steps:
            break
        if early_stop and bool(hit.any()):
            keep = ~hit
            ids, s = ids[keep], {name: value[keep] for name, value in s.items()}
            if ids.numel() == 0:
                return result, found
        # Algorithm 1, lines 6-7: a step of size eta, then momentum (not on the first step)
        eta = per_sample(s["eta"], s["x"])
        z = ascent_step(s["x_cur"], s["grad"], s["x"], step_size=eta, eps=eps, norm=norm)
        if k > 0:
            z = project(
                s["x_cur"]
                + MOMENTUM * (z - s["x_cur"])
                + (1 - MOMENTUM) * (s["x_cur"] - s["x_prev"]),
                s["x"],
                eps=eps,
                norm=norm,
            )
        s["x_prev"], s["x_cur"] = s["x_cur"], z
        f_new, pred, s["grad"] = _value_and_grad(
            model, z, s["y"], s.get("targets"), loss=loss, need_grad=k + 1 < steps
        )
        s["increases"] = s["increases"] + (f_new > s["f_cur"]).long()
        s["f_cur"] = f_new
        better = f_new > s["f_best"]  # lines 8-9: keep the best point
        s["f_best"] = torch.where(better, f_new, s["f_best"])
        s["x_best"] = torch.where(per_sample(better, z), z, s["x_best"])
        if s["grad"] is not None:
            s["grad_best"] = torch.where(per_sample(better, z), s["grad"], s["grad_best"])
        if k + 1 in reviews and k + 1 < steps:  # lines 10-12: review the step size
            window = k + 1 - window_start
            window_start = k + 1
            oscillating = s["increases"].double() < rho * window  # condition 1
            stalled = ~s["reduced_at_review"] & (s["f_best"] <= s["f_best_at_review"])
            reduce = oscillating | stalled  # condition 2: stalled with no reduction
            s["eta"] = torch.where(reduce, s["eta"] / 2, s["eta"])
            back = per_sample(reduce, z)
            s["x_cur"] = torch.where(back, s["x_best"], s["x_cur"])
            s["grad"] = torch.where(back, s["grad_best"], s["grad"])
            s["f_cur"] = torch.where(reduce, s["f_best"], s["f_cur"])
            s["reduced_at_review"], s["f_best_at_review"] = reduce, s["f_best"]
            s["increases"] = torch.zeros_like(s["increases"])
    never = ~found[ids]
    result[ids[never]] = s["x_best"][never]
    return result, found


def rank_targets(model: nn.Module, x: torch.Tensor, *, rank: int) -> torch.Tensor:
    """Per sample, the class the model ranks ``rank``-th on ``x`` (2 = the runner-up)."""
    with torch.no_grad():
        logits = model(x)
    if not 2 <= rank <= logits.shape[1]:
        raise InvalidValue(
            "target_rank",
            rank,
            f"an integer in [2, {logits.shape[1]}] (the model has that many classes)",
        )
    return logits.argsort(dim=1, descending=True)[:, rank - 1]


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 100,
    loss: str = "ce",
    targeted: bool = False,
    target_rank: int | None = None,
    restarts: int = 1,
    rho: float = 0.75,
    early_stop: bool = False,
    generator: Randomness = None,
) -> torch.Tensor:
    """APGD on images ``x`` in [0, 1] with true labels ``y``; returns adversarial images.

    ``loss`` is ``ce`` or ``dlr``. Untargeted, the attack ascends the loss of the label.
    ``targeted`` needs ``target_rank`` k >= 2: each sample's target is the class the model
    ranks k-th on its clean image, the attack ascends minus CE to it or the targeted DLR
    (APGD-T), and success is still misclassification, as in AutoAttack. A run costs
    ``steps + 1`` forward and ``steps`` backward passes per sample (the start's gradient
    included; the last iterate is only evaluated). ``restarts`` further runs from new
    random points attack only the samples not yet misclassified. ``rho`` is the share of
    increasing steps below which the step size halves (condition 1). ``early_stop`` drops
    a sample at its first misclassified iterate: the same samples are fooled, with fewer
    passes. ``generator`` draws the starting points (one generator, or one per sample).

    Per sample the last misclassified iterate is returned, else the iterate of highest
    loss. The model runs in eval mode (its mode is restored); ``x`` is not modified.
    """
    check_inputs(x, y)
    eps = check_positive("eps", eps)
    check_int("steps", steps, minimum=0)
    check_int("restarts", restarts)
    check_choice("norm", norm, NORMS)
    check_choice("loss", loss, APGD_LOSSES)
    Number(low=0.0, high=1.0, closed_low=False)("rho", rho)
    Boolean()("targeted", targeted)
    Boolean()("early_stop", early_stop)
    if target_rank is not None:
        check_int("target_rank", target_rank, minimum=2)
    if targeted and target_rank is None:
        raise InvalidValue(
            "target_rank",
            None,
            "an integer >= 2 with targeted=True (the "
            "target is the class the model ranks k-th; 2 = the runner-up)",
        )
    if not targeted and target_rank is not None:
        raise InvalidValue("target_rank", target_rank, "None unless targeted=True")
    x, y = x.detach(), y.detach()
    result = x.clone()
    with eval_mode(model), torch.enable_grad():
        classes = model(x[:1]).shape[1] if len(x) else 0
        needed = 4 if targeted and loss == "dlr" else 3 if loss == "dlr" else 2
        if len(x) and classes < needed:
            raise InvalidValue(
                "loss",
                loss,
                f"a loss the model's {classes} classes allow "
                f"({'targeted ' if targeted else ''}DLR needs {needed})",
            )
        targets = rank_targets(model, x, rank=target_rank) if targeted else None
        solved = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            todo = (~solved).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            points, found = _apgd_run(
                model,
                x[todo],
                y[todo],
                None if targets is None else targets[todo],
                eps=eps,
                norm=norm,
                steps=steps,
                loss=loss,
                rho=rho,
                early_stop=early_stop,
                generator=take(generator, todo),
            )
            result[todo] = points
            solved[todo] = found
    return result
