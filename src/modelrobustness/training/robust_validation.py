"""The guard of adversarial training against its two kinds of overfitting.

- Robust overfitting (Rice, Wong & Kolter 2020): robust test accuracy peaks and then
  falls while training goes on. After every epoch the robust accuracy under PGD-10 on a
  fixed validation subset is measured, and the fit keeps the epoch where it is highest
  (:func:`~.fit.fit`'s ``select``).
- Catastrophic overfitting (Wong, Rice & Kolter 2020, Sec. 5): with single-step training
  (FGSM) the PGD accuracy collapses within an epoch while the FGSM accuracy stays high,
  because the model has learned to make FGSM's linear step useless. The same epoch's FGSM
  accuracy is measured beside PGD's, and :func:`collapsed_epochs` finds the epochs where
  one collapsed and the other did not.

The attacks are this package's own (:func:`~modelrobustness.attacks.pgd`) on the
model's inference copy; the PGD starts come from one seed, the same every epoch, so
epochs are compared on the same draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.pgd import pgd
from ..models.inference import inference_copy
from ..utils.torch import predict_labels

PGD_STEPS = 10
ROBUST_KEY = "val_robust_accuracy"  # the stat the fit selects the kept epoch by
FGSM_KEY = "val_fgsm_accuracy"
CLEAN_KEY = "val_subset_accuracy"  # clean accuracy on the same images
# catastrophic overfitting: PGD accuracy at most this share of its best earlier epoch's,
# that best at least MIN_BEST, and FGSM accuracy at least GAP above PGD's
COLLAPSE_SHARE = 0.5
COLLAPSE_MIN_BEST = 0.1
COLLAPSE_GAP = 0.2
BATCH_SIZE = 500  # images attacked at once (results do not depend on it)


@dataclass(frozen=True)
class RobustAccuracy:
    """Accuracy of ``model`` on ``x`` clean, under PGD-10 and under FGSM at ``eps``."""

    clean: float
    pgd: float
    fgsm: float


def robust_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    seed: int,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> RobustAccuracy:
    """Clean accuracy, accuracy under PGD-10 (step 2.5 * eps / 10, a random start drawn
    from ``seed``, the margin loss; Madry et al.'s evaluation) and under FGSM (one step of
    eps from the clean image, no random start) on ``x`` (CPU), attacked in batches on
    ``device``. An image counts as robust only if it is also classified correctly clean.
    The random starts are drawn on the CPU (and moved), so they do not depend on
    ``batch_size`` on any device."""
    net = inference_copy(model, device=device)
    generator = torch.Generator().manual_seed(seed)
    clean = predict_labels(net, x, batch_size=batch_size, device=device) == y
    under_pgd, under_fgsm = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        x_pgd = pgd(
            net,
            xb,
            yb,
            eps=eps,
            norm=norm,
            steps=PGD_STEPS,
            step_size=2.5 * eps / PGD_STEPS,
            loss="margin",
            early_stop=True,
            generator=generator,
        )
        x_fgsm = pgd(
            net, xb, yb, eps=eps, norm=norm, steps=1, step_size=eps, random_start=False, loss="ce"
        )
        under_pgd.append(predict_labels(net, x_pgd, batch_size=batch_size, device=device))
        under_fgsm.append(predict_labels(net, x_fgsm, batch_size=batch_size, device=device))
    n = max(len(x), 1)
    robust_pgd = clean & (torch.cat(under_pgd) == y) if under_pgd else clean
    robust_fgsm = clean & (torch.cat(under_fgsm) == y) if under_fgsm else clean
    return RobustAccuracy(
        clean=float(clean.sum()) / n,
        pgd=float(robust_pgd.sum()) / n,
        fgsm=float(robust_fgsm.sum()) / n,
    )


def epoch_scorer(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str,
    seed: int,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> Callable[[nn.Module], dict[str, float]]:
    """The fit loop's ``score_epoch``: ``val_robust_accuracy`` (PGD-10),
    ``val_fgsm_accuracy`` and ``val_subset_accuracy`` (clean) of the model on the
    validation subset ``x``."""

    def score(model: nn.Module) -> dict[str, float]:
        result = robust_accuracy(
            model, x, y, eps=eps, norm=norm, seed=seed, batch_size=batch_size, device=device
        )
        return {ROBUST_KEY: result.pgd, FGSM_KEY: result.fgsm, CLEAN_KEY: result.clean}

    return score


def collapsed_epochs(history: Sequence[dict[str, float]]) -> list[int]:
    """The epochs where PGD-10 accuracy collapsed while FGSM accuracy stayed high: at most
    ``COLLAPSE_SHARE`` of the best earlier epoch's (itself at least ``COLLAPSE_MIN_BEST``),
    with FGSM accuracy at least ``COLLAPSE_GAP`` above it."""
    out, best = [], 0.0
    for row in history:
        robust, fgsm = row[ROBUST_KEY], row[FGSM_KEY]
        if (
            best >= COLLAPSE_MIN_BEST
            and robust <= COLLAPSE_SHARE * best
            and fgsm >= robust + COLLAPSE_GAP
        ):
            out.append(int(row["epoch"]))
        best = max(best, robust)
    return out
