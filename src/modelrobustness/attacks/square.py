"""Square Attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
adversarial attack via random search"): random search over square-shaped updates at the
vertices of the L-inf ball (Algorithm 1 with Algorithm 2's sampling) or over pairs of
squares that move L2 mass (Algorithm 3). It only reads the model's outputs: no gradient is
ever taken, so gradient masking cannot stop it.

Every random draw of a sample (starting stripes or tiles, the squares' positions and
signs) is made up front in one block per sample from ``generator``, so a sample's search
never depends on the rest of the batch, and attacking a set in several batches with one
generator gives the same images as attacking it at once.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils.checks import InvalidValue, Number, check_choice, check_int, check_positive
from ..utils.torch import eval_mode
from .ball import NORMS, Randomness, flat_norm, random_draws
from .base import check_inputs
from .losses import margin

# Sec. 3.2 / the authors' code: p halves at these iterations of a 10,000-query schedule
P_HALVINGS: tuple[int, ...] = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(iteration: int, *, queries: int, p_init: float) -> float:
    """Share of the image a square covers at ``iteration``: ``p_init`` halved at each of
    ``P_HALVINGS`` passed, the schedule rescaled from 10,000 queries to ``queries``."""
    it = int(iteration / queries * 10000)
    return p_init / 2 ** sum(it > h for h in P_HALVINGS)


def square_side(p: float, *, height: int, width: int, minimum: int = 1) -> int:
    """Side of a square covering a share ``p`` of the image, at least ``minimum``, at most
    the image's shorter side."""
    return min(max(int(round(math.sqrt(p * height * width))), minimum), height, width)


def _window(u: torch.Tensor, side: int, extent: int) -> torch.Tensor:
    """Top-left corners in [0, extent - side] from uniform draws ``u``."""
    return (u * (extent - side + 1)).long().clamp(max=extent - side)


def _mask(
    rows: torch.Tensor, cols: torch.Tensor, side: int, height: int, width: int
) -> torch.Tensor:
    """Per-sample masks (N x 1 x H x W) of the squares with top-left corners (rows, cols)."""
    r = torch.arange(height, device=rows.device)
    c = torch.arange(width, device=cols.device)
    in_rows = (r >= rows[:, None]) & (r < rows[:, None] + side)
    in_cols = (c >= cols[:, None]) & (c < cols[:, None] + side)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


def _rectangles(rows: int, cols: int, device: torch.device) -> torch.Tensor:
    """Concentric rectangles of weight 1 / (k + 1)^2 (the authors' ``eta_rectangles``)."""
    out = torch.zeros(rows, cols, device=device)
    r0, c0 = rows // 2, cols // 2
    for k in range(max(r0 + 1, c0 + 1)):
        out[max(r0 - k, 0) : min(r0 + k + 1, rows), max(c0 - k, 0) : min(c0 + k + 1, cols)] += (
            1.0 / (k + 1) ** 2
        )
    return out / out.norm().clamp_min(1e-12)


def l2_square(side: int, device: torch.device) -> torch.Tensor:
    """The update's shape (Sec. 3.3): a positive and a negative half of concentric
    rectangles, unit L2 norm."""
    pattern = torch.cat(
        [_rectangles(side // 2, side, device), -_rectangles(side - side // 2, side, device)]
    )
    return pattern / pattern.norm().clamp_min(1e-12)


def _signs(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u < 0.5, -1.0, 1.0).to(u.dtype)


def _square_index(
    rows: torch.Tensor, cols: torch.Tensor, side: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Advanced indices (batch, row, column) of the per-sample squares with top-left
    corners (rows, cols), for a channels-last N x H x W x C view."""
    offsets = torch.arange(side, device=rows.device)
    batch = torch.arange(rows.shape[0], device=rows.device)[:, None, None]
    return (batch, (rows[:, None] + offsets)[:, :, None], (cols[:, None] + offsets)[:, None, :])


def _gather(t: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, side: int) -> torch.Tensor:
    """The per-sample squares of ``t`` (N x C x H x W) as N x C x side x side."""
    return t.permute(0, 2, 3, 1)[_square_index(rows, cols, side)].permute(0, 3, 1, 2)


def _scatter(
    t: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """``t`` with the per-sample squares at (rows, cols) replaced by ``values``."""
    out = t.permute(0, 2, 3, 1).clone()
    out[_square_index(rows, cols, values.shape[-1])] = values.permute(0, 2, 3, 1)
    return out.permute(0, 3, 1, 2).contiguous()


def _l2_start(x: torch.Tensor, u: torch.Tensor, eps: float) -> torch.Tensor:
    """Algorithm 3's start: a grid of update shapes of side H // 5 with random signs per
    tile and channel, scaled to norm eps."""
    n, c, h, w = x.shape
    side = max(h // 5, 1)
    tiles_h, tiles_w = h // side, w // side
    top, left = (h - side * tiles_h) // 2, (w - side * tiles_w) // 2
    delta = torch.zeros_like(x)
    shape = l2_square(side, x.device).to(x.dtype)
    signs = _signs(u).view(n, tiles_h, tiles_w, c)
    for i in range(tiles_h):
        for j in range(tiles_w):
            r, q = top + i * side, left + j * side
            delta[:, :, r : r + side, q : q + side] += shape * signs[:, i, j, :, None, None]
    return (x + eps * delta / flat_norm(delta).clamp_min(1e-12)).clamp(0.0, 1.0)


def _l2_candidate(
    x: torch.Tensor, x_best: torch.Tensor, u: torch.Tensor, *, eps: float, side: int
) -> torch.Tensor:
    """Algorithm 3, one step: a new update shape in a first square, on top of the old
    perturbation there (normalized), the mass of a second square moved into it, the whole
    perturbation rescaled to norm eps."""
    n, c, h, w = x.shape
    delta = x_best - x
    rows1, cols1 = _window(u[:, 0], side, h), _window(u[:, 1], side, w)
    rows2, cols2 = _window(u[:, 2], side, h), _window(u[:, 3], side, w)
    shape = l2_square(side, x.device).to(x.dtype)
    shape = torch.where((u[:, 4] < 0.5)[:, None, None], shape, shape.T)  # N x s x s
    old = _gather(delta, rows1, cols1, side)
    old_norm = old.flatten(2).norm(dim=2)[:, :, None, None]
    union = _mask(rows1, cols1, side, h, w) | _mask(rows2, cols2, side, h, w)
    moved = flat_norm(delta * union).squeeze()
    budget = (eps**2 - flat_norm(delta).view(n) ** 2).clamp_min(0) / c
    new = shape[:, None] * _signs(u[:, 5 : 5 + c])[:, :, None, None] + old / (old_norm + 1e-12)
    new = (
        new
        / (new.flatten(2).norm(dim=2)[:, :, None, None] + 1e-12)
        * (budget + moved.view(n) ** 2).sqrt()[:, None, None, None]
    )
    delta = delta.masked_fill(_mask(rows2, cols2, side, h, w), 0.0)
    delta = _scatter(delta, rows1, cols1, new)
    return (x + eps * delta / flat_norm(delta).clamp_min(1e-12)).clamp(0.0, 1.0)


def _linf_candidate(
    x: torch.Tensor, x_best: torch.Tensor, u: torch.Tensor, *, eps: float, side: int
) -> torch.Tensor:
    """Algorithm 2: one square of side ``side`` set to a vertex of the ball (+-eps per
    channel), the rest of the perturbation kept."""
    n, c, h, w = x.shape
    rows, cols = _window(u[:, 0], side, h), _window(u[:, 1], side, w)
    vertex = (x + eps * _signs(u[:, 2 : 2 + c])[:, :, None, None]).clamp(0.0, 1.0)
    return torch.where(_mask(rows, cols, side, h, w), vertex, x_best)


def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    queries: int = 5000,
    p_init: float = 0.8,
    generator: Randomness = None,
) -> torch.Tensor:
    """Untargeted Square Attack on images ``x`` (N x C x H x W in [0, 1]) with labels ``y``.

    The search minimises the margin ``z_y - max_{i != y} z_i`` and accepts a candidate when
    it lowers it (or misclassifies); a sample stops at its first misclassified candidate.
    ``queries`` is the number of iterations, one forward pass each for the samples still
    searching, after the one of the start (the authors' ``n_queries``). ``p_init`` is the
    initial share of the image a square covers, halved on the schedule of Sec. 3.2. Returns,
    per sample, its misclassified point, else the point of lowest margin. No gradient is
    taken (the model may be non-differentiable); it runs in eval mode, restored afterwards;
    ``x`` is not modified. Random draws take ``N * (queries * (5 + C) + start)`` floats.
    """
    check_inputs(x, y)
    if x.ndim != 4:
        raise InvalidValue("x.shape", tuple(x.shape), "a batch of images N x C x H x W")
    eps = check_positive("eps", eps)
    check_int("queries", queries, minimum=0)
    check_choice("norm", norm, NORMS)
    Number(low=0.0, high=1.0, closed_low=False)("p_init", p_init)
    x, y = x.detach(), y.detach()
    n, c, h, w = x.shape
    per_step = 5 + c if norm == "l2" else 2 + c
    side0 = max(h // 5, 1)
    start_draws = (h // side0) * (w // side0) * c if norm == "l2" else c * w
    u = random_draws("uniform", x, generator, (n, start_draws + queries * per_step))
    start_u, steps_u = u[:, :start_draws], u[:, start_draws:].view(n, queries, per_step)
    with eval_mode(model), torch.no_grad():
        if norm == "linf":
            stripes = _signs(start_u).view(n, c, 1, w)  # vertical stripes (Sec. 3.2)
            x_best = (x + eps * stripes).clamp(0.0, 1.0)
        else:
            x_best = _l2_start(x, start_u, eps)
        logits = model(x_best)
        best = margin(logits, y)  # maximised: > 0 means misclassified
        done = logits.argmax(1) != y
        ids = (~done).nonzero().squeeze(1)
        for i in range(queries):
            if ids.numel() == 0:
                break
            p = p_schedule(i, queries=queries, p_init=p_init)
            if norm == "linf":
                side = square_side(p, height=h, width=w)
                candidate = _linf_candidate(
                    x[ids], x_best[ids], steps_u[ids, i], eps=eps, side=side
                )
            else:
                side = square_side(p, height=h, width=w, minimum=3)
                side = side + 1 if side % 2 == 0 and side < min(h, w) else side
                candidate = _l2_candidate(x[ids], x_best[ids], steps_u[ids, i], eps=eps, side=side)
            logits = model(candidate)
            value = margin(logits, y[ids])
            fooled = logits.argmax(1) != y[ids]
            accept = (value > best[ids]) | fooled
            x_best[ids[accept]] = candidate[accept]
            best[ids[accept]] = value[accept]
            done[ids[fooled]] = True
            ids = ids[~fooled]
    return x_best
