"""The threat model's geometry: the eps-ball of the L-inf or L2 norm around an image,
intersected with the [0, 1] box. Projection, random starting points, step directions, and
the random numbers they draw: from one generator, or from one generator per sample
(:class:`SampleGenerators`), so that a sample's draws never depend on the other samples of
its batch, its batch or the process that attacks it."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence

import torch

from ..utils.checks import Number
from ..utils.seeds import derived_seed

NORMS: tuple[str, ...] = ("linf", "l2")
# a budget: any positive radius; of the L-inf norm on [0, 1] pixels, at most 1 (a larger
# ball is the whole box)
BUDGET = Number(low=0.0, closed_low=False, unit="(at most 1 for the linf norm)")
LINF_BUDGET = Number(low=0.0, high=1.0, closed_low=False, unit="for the linf norm")


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm of ``t`` (N x ...), shaped to broadcast against ``t``."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.ndim - 1)))


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A vector of N per-sample values shaped to broadcast against ``like`` (N x ...)."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, *, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` (Madry et al. 2018, Eq. 2's Proj),
    then the box.

    For L-inf the box clamp keeps the point inside the ball; for L2 it can only shrink the
    perturbation's norm, so the result lies in the intersection.
    """
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0)


class SampleGenerators:
    """One CPU ``torch.Generator`` per sample, in sample order. A subset (``[index]``)
    shares the generators, so a sample's stream continues wherever it is attacked next.

    :meth:`seeded` seeds each from (seed, stream name, sample id) through numpy's
    ``SeedSequence``: the same sample under the same stream gets the same numbers however
    the samples are batched or shared out among processes."""

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)

    @classmethod
    def seeded(cls, seed: int, stream: str, ids: Iterable[int]) -> SampleGenerators:
        """Generators for the samples ``ids`` (their indices in the attacked set)."""
        key = zlib.crc32(stream.encode())
        return cls([torch.Generator().manual_seed(derived_seed(seed, key, int(i))) for i in ids])

    def __len__(self) -> int:
        return len(self.generators)

    def __getitem__(self, index: torch.Tensor | slice) -> SampleGenerators:
        if isinstance(index, slice):
            return SampleGenerators(self.generators[index])
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        return SampleGenerators([self.generators[int(i)] for i in index.reshape(-1)])


# where an attack's random numbers come from: one generator, one per sample, or torch's
# global one (None)
Randomness = torch.Generator | SampleGenerators | None


def take(generator: Randomness, index: torch.Tensor | slice) -> Randomness:
    """The randomness of the samples ``index``: their own generators, or the shared one."""
    return generator[index] if isinstance(generator, SampleGenerators) else generator


def random_draws(
    kind: str,
    x: torch.Tensor,
    generator: Randomness,
    shape: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """``uniform`` or ``normal`` random numbers shaped like ``x`` (or ``shape``, N x ...)
    from ``generator`` (on its device), moved to ``x``'s device; from
    :class:`SampleGenerators`, row ``i`` from sample ``i``'s generator.

    From one generator, per sample the same numbers whatever the batch: CPU ``randn`` fills
    blocks of 16 and redraws a ragged tail, so normal draws are made in rows padded to a
    multiple of 16."""
    shape = tuple(shape or x.shape)
    if isinstance(generator, SampleGenerators):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} sample generators for {shape[0]} samples")
        rows = [random_draws(kind, x, g, (1, *shape[1:])) for g in generator.generators]
        return torch.cat(rows) if rows else torch.empty(shape, dtype=x.dtype, device=x.device)
    device = generator.device if generator is not None else x.device
    if kind == "uniform":
        values = torch.rand(shape, generator=generator, device=device, dtype=x.dtype)
    else:
        n, size = shape[0], math.prod(shape[1:])
        padded = max(-(-size // 16) * 16, 16)
        values = torch.randn((n, padded), generator=generator, device=device, dtype=x.dtype)[
            :, :size
        ].reshape(shape)
    return values.to(x.device)


def random_start(x: torch.Tensor, *, eps: float, norm: str, generator: Randomness) -> torch.Tensor:
    """A uniform random point of the eps-ball (Madry et al. Sec. 5), clamped to the box.

    L2: a Gaussian direction and a radius eps * u^(1/d), u uniform, drawn in one call per
    sample (u from one more Gaussian through its CDF), so batching changes no sample's start.
    """
    if norm == "linf":
        delta = (random_draws("uniform", x, generator) * 2 - 1) * eps
    else:
        n, dims = x.shape[0], x[0].numel()
        draws = random_draws("normal", x, generator, (n, dims + 1))
        direction = draws[:, :dims].reshape(x.shape)
        radius = 0.5 * (1 + torch.erf(draws[:, dims] / math.sqrt(2)))
        direction = direction / flat_norm(direction).clamp_min(1e-12)
        delta = direction * per_sample(eps * radius.pow(1.0 / dims), x)
    return (x + delta).clamp(0.0, 1.0)


def boundary_start(
    x: torch.Tensor, *, eps: float, norm: str, generator: Randomness
) -> torch.Tensor:
    """A random point on the boundary of the eps-ball, clamped to the box: the starting
    point of APGD (Croce & Hein 2020, Sec. 3; their code's ``x + eps * t / ||t||``).

    L-inf: a uniform draw in [-1, 1]^d scaled so its largest coordinate is eps; L2: a
    Gaussian direction of norm eps.
    """
    if norm == "linf":
        t = random_draws("uniform", x, generator) * 2 - 1
        scale = t.flatten(1).abs().amax(dim=1).clamp_min(1e-12)
    else:
        t = random_draws("normal", x, generator)
        scale = t.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
    return (x + eps * t / per_sample(scale, x)).clamp(0.0, 1.0)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for L-inf, g / ||g||_2 for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / flat_norm(grad).clamp_min(1e-12)


def ascent_step(
    x_adv: torch.Tensor,
    grad: torch.Tensor,
    x: torch.Tensor,
    *,
    step_size: float | torch.Tensor,
    eps: float,
    norm: str,
) -> torch.Tensor:
    """One projected steepest-ascent step (Madry et al. 2018, Eq. 2):
    Proj_{B(x, eps) ∩ [0,1]^d}(x_adv + step_size * s(grad)); ``step_size`` a number or a
    per-sample tensor broadcastable to ``x``."""
    return project(x_adv + step_size * ascent_direction(grad, norm), x, eps=eps, norm=norm)
