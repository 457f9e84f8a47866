"""The shape every attack evaluation shares: predict the clean images, attack only the
clean-correct ones in batches, predict the adversarial images, mark the fooled ones; the
rates and curves made from that.

Definitions (RobustBench's): ``robust_accuracy`` is the fraction of the attacked samples
classified correctly both clean and under attack; ``attack_success_rate`` the fraction of
the clean-correct samples the attack fooled. Clean-misclassified samples are not attacked.

Randomness and processes: given :class:`SampleSeeds`, every batch's attack draws from one
generator per sample, seeded by (seed, the call's stream name, the sample's index in the
attacked set), so a sample's attack does not depend on the rest of its batch. Under
``torchrun`` (``ranks``) each process attacks every ``world``-th batch and all gather the
results; the batches are the same whatever the number of processes, so 1 and N processes
give the same images, bit for bit, and every later step (predictions, ensembles, curves,
metrics) runs on the same data in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..attacks.ball import SampleGenerators
from ..utils.distributed import SINGLE, Ranks, gather_objects
from ..utils.torch import predict_labels

# (images, labels) on the device -> adversarial images; with SampleSeeds, also given
# ``generator=`` the batch's SampleGenerators
BatchAttack = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class SampleSeeds:
    """The random streams of one evaluation: its seed and the attacked samples' indices
    (``ids``, in the attacked set: the first N test images are 0..N-1, so a sample's
    streams are the same whatever N)."""

    seed: int
    ids: torch.Tensor

    @classmethod
    def first(cls, seed: int, count: int) -> SampleSeeds:
        return cls(seed, torch.arange(count))

    def __getitem__(self, index: torch.Tensor | slice) -> SampleSeeds:
        return SampleSeeds(self.seed, self.ids[index])

    def generators(self, stream: str) -> SampleGenerators:
        """Fresh generators of these samples for the stream ``stream``."""
        return SampleGenerators.seeded(self.seed, stream, self.ids.tolist())


@dataclass
class AttackRun:
    """One attack on the clean-correct samples of ``x`` (CPU tensors)."""

    clean_predictions: torch.Tensor  # every sample
    clean_correct: torch.Tensor  # every sample
    target: torch.Tensor  # indices of the clean-correct samples, the ones attacked
    x_adv: torch.Tensor  # adversarial images of the attacked samples
    adv_predictions: torch.Tensor  # their predictions
    fooled: torch.Tensor  # every sample: clean-correct and misclassified under attack


@dataclass
class AttackOutcome:
    """Per-sample results of one attack stage on ``x`` (CPU tensors) and its metrics."""

    x_adv: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    clean_predictions: torch.Tensor
    clean_correct: torch.Tensor
    success: torch.Tensor
    adv_predictions: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor
    metrics: dict[str, Any]
    curve: list[dict[str, float]] = field(default_factory=list)
    # ensembles: index (into the record's ``fooled_by`` names) of the attack that fooled
    # each sample first, -1 for none
    broken_by: torch.Tensor | None = None

    def artifact(self) -> dict[str, torch.Tensor]:
        """Tensors only, so ``torch.load(..., weights_only=True)`` reads it back."""
        tensors = {
            "x_adv": self.x_adv,
            "labels": self.labels,
            "indices": self.indices,
            "clean_predictions": self.clean_predictions,
            "clean_correct": self.clean_correct,
            "success": self.success,
            "adv_predictions": self.adv_predictions,
            "linf": self.linf,
            "l2": self.l2,
        }
        if self.broken_by is not None:
            tensors["broken_by"] = self.broken_by
        return tensors


def attack_in_batches(
    attack: BatchAttack,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    desc: str = "attack",
    seeds: SampleSeeds | None = None,
    stream: str = "",
    ranks: Ranks = SINGLE,
) -> torch.Tensor:
    """Apply ``attack(x_batch, y_batch)`` batch by batch on ``device``, in order; results
    on CPU. The fewest batches of at most ``batch_size`` images, of sizes differing by at
    most one (230 images at 100: 77, 77 and 76, not 100, 100 and a slow 30).

    With ``seeds`` the attack is also given ``generator=`` its batch's per-sample
    generators for ``stream``; with ``ranks`` (several processes, which need ``seeds``)
    this process attacks batches ``rank, rank + world, ...`` and every process returns all
    of them."""
    if ranks.world > 1 and seeds is None:
        raise ValueError("attacks shared out among processes need per-sample seeds")
    if len(x) == 0:
        return x.clone()
    count = -(-len(x) // batch_size)
    xs, ys = x.tensor_split(count), y.tensor_split(count)
    parts = torch.arange(len(x)).tensor_split(count)
    done: dict[int, torch.Tensor] = {}
    mine = range(ranks.rank, count, ranks.world)
    bar = tqdm(mine, desc=desc, unit="batch", disable=None if ranks.main else True, leave=False)
    for i in bar:
        xb, yb = xs[i].to(device), ys[i].to(device)
        if seeds is None:
            done[i] = attack(xb, yb).cpu()
        else:
            done[i] = attack(xb, yb, generator=seeds[parts[i]].generators(stream)).cpu()
    if ranks.world > 1:
        for part in gather_objects(done, ranks):
            done.update(part)
    return torch.cat([done[i] for i in range(count)])


def attack_clean_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: BatchAttack,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    desc: str = "attack",
    clean_predictions: torch.Tensor | None = None,
    predict_batch_size: int = 1000,
    seeds: SampleSeeds | None = None,
    ranks: Ranks = SINGLE,
) -> AttackRun:
    """Attack the samples ``model`` classifies correctly and see which are fooled.

    ``clean_predictions`` reuses predictions already made on ``x``; ``batch_size`` is the
    attack's, ``predict_batch_size`` the plain predictions'. ``seeds`` (of ``x``'s samples;
    the stream is ``desc``) and ``ranks`` go to :func:`attack_in_batches`.
    """
    if clean_predictions is None:
        clean_predictions = predict_labels(model, x, batch_size=predict_batch_size, device=device)
    clean_correct = clean_predictions == y
    target = clean_correct.nonzero().squeeze(1)
    x_adv = attack_in_batches(
        attack,
        x[target],
        y[target],
        batch_size=batch_size,
        device=device,
        desc=desc,
        seeds=seeds[target] if seeds is not None else None,
        stream=desc,
        ranks=ranks,
    )
    adv_predictions = predict_labels(model, x_adv, batch_size=predict_batch_size, device=device)
    fooled = torch.zeros_like(clean_correct)
    fooled[target] = adv_predictions != y[target]
    return AttackRun(
        clean_predictions=clean_predictions,
        clean_correct=clean_correct,
        target=target,
        x_adv=x_adv,
        adv_predictions=adv_predictions,
        fooled=fooled,
    )


def rate(mask: torch.Tensor, of: torch.Tensor | None = None) -> float:
    """Share of ``mask`` among all samples, or among the samples of ``of`` (0.0 when
    there are none)."""
    if of is None:
        return float(mask.double().mean()) if mask.numel() else 0.0
    total = int(of.sum())
    return float((mask & of).sum()) / total if total else 0.0


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample L-inf and L2 norms of ``x_adv - x`` (in [0, 1] pixel units)."""
    delta = (x_adv - x).flatten(1).double()
    return delta.abs().amax(dim=1).float(), delta.norm(p=2, dim=1).float()


def norm_stats(linf: torch.Tensor, l2: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Mean and max L-inf and L2 of the successful perturbations (0 when there are none)."""
    if not bool(mask.any()):
        return {"mean_linf": 0.0, "max_linf": 0.0, "mean_l2": 0.0, "max_l2": 0.0}
    return {
        "mean_linf": float(linf[mask].double().mean()),
        "max_linf": float(linf[mask].max()),
        "mean_l2": float(l2[mask].double().mean()),
        "max_l2": float(l2[mask].max()),
    }


def robustness_curve(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps_list: Sequence[float],
    attack: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
    batch_size: int,
    device: torch.device | str = "cpu",
    known: tuple[float, torch.Tensor] | None = None,
    known_attacked: bool = False,
    seeds: SampleSeeds | None = None,
    ranks: Ranks = SINGLE,
) -> list[dict[str, float]]:
    """Robust accuracy at each eps, attacking at each eps only the survivors of the last.

    An adversarial example inside a smaller ball is inside every larger one, so a sample
    fooled at eps stays fooled at every larger eps; the curve is monotone by construction.
    ``attack(x, y, eps)`` returns adversarial images. ``known = (eps0, fooled)`` marks
    samples already fooled at ``eps0`` (by another attack) as fooled at every eps >= eps0.
    ``known_attacked``: that other attack already ran ``attack`` at ``eps0`` on every
    clean-correct sample it did not fool, so the curve does not attack again at ``eps0``
    (its point there is the per-sample worst case of both). With ``seeds`` (of ``x``'s
    samples) ``attack`` also takes ``generator=`` (stream ``curve <eps>``); ``ranks``: see
    :func:`attack_in_batches`.
    """
    clean = predict_labels(model, x, batch_size=batch_size, device=device)
    alive = clean == y
    curve = []
    for eps in sorted(float(e) for e in eps_list):
        if known is not None and eps >= known[0]:
            alive &= ~known[1]
        index = alive.nonzero().squeeze(1)
        attacked_already = known is not None and known_attacked and eps == known[0]
        if index.numel() and not attacked_already:
            x_adv = attack_in_batches(
                lambda xb, yb, eps=eps, **random: attack(xb, yb, eps, **random),
                x[index],
                y[index],
                batch_size=batch_size,
                device=device,
                desc=f"eps {eps:g}",
                seeds=seeds[index] if seeds is not None else None,
                stream=f"curve {eps!r}",
                ranks=ranks,
            )
            pred = predict_labels(model, x_adv, batch_size=batch_size, device=device)
            alive[index[pred != y[index]]] = False
        curve.append({"eps": eps, "robust_accuracy": float(alive.double().mean())})
    return curve


def accuracy_under_l2_budget(
    clean_correct: torch.Tensor, fooled: torch.Tensor, l2: torch.Tensor, budgets: Sequence[float]
) -> list[dict]:
    """Accuracy when the attacker may spend at most each L2 budget, from minimal norms.

    A sample counts as correct at budget r when it is correct clean and its minimal
    adversarial perturbation (DDN) is larger than r or was not found.
    """
    rows = []
    for r in budgets:
        broken = fooled & (l2 <= r)
        rows.append({"l2": float(r), "accuracy": float((clean_correct & ~broken).double().mean())})
    return rows
