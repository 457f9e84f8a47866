"""The statistics the evaluation and the report compute: confusion matrices and confidence
intervals of rates. numpy and the standard library only: scikit-learn and scipy give the
same numbers (the tests compare them) but cost a stage seconds of start-up to import."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95


def wilson_interval(
    successes: int, trials: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Wilson score interval (Wilson 1927; Newcombe 1998, method 3) of a binomial proportion
    ``successes / trials``; None without trials.

    With p = k/n and z the normal quantile at (1 + confidence)/2, the bounds are
    ``(2np + z^2 -+ z sqrt(z^2 + 4npq)) / (2(n + z^2))``, clipped to exactly 0 at k = 0 and 1
    at k = n, as scipy's ``binomtest(k, n).proportion_ci(method="wilson")`` gives (the tests
    compare the two). Unlike the normal approximation it stays inside [0, 1] and is not empty
    at 0 or 1: 0 robust images of 300 still leave [0, 0.0126]. Closed form instead of scipy:
    importing scipy.stats costs the evaluate stage about a second."""
    if trials <= 0:
        return None
    k, n = int(successes), int(trials)
    p = k / n
    z = NormalDist().inv_cdf(0.5 + 0.5 * confidence)
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    low = 0.0 if k == 0 else center - delta
    high = 1.0 if k == n else center + delta
    return low, high


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, *, classes: int
) -> np.ndarray:
    """Counts of (actual, predicted) class index pairs: row i, column j counts the samples of
    class i predicted as j (``classes`` x ``classes``, int64), as sklearn's
    ``confusion_matrix(y_true, y_pred, labels=range(classes))``. Indices outside
    ``[0, classes)`` are a ValueError."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    for name, values in (("label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"a {name} is outside the {classes} classes 0..{classes - 1}")
    return np.bincount(classes * y_true + y_pred, minlength=classes * classes).reshape(
        classes, classes
    )
