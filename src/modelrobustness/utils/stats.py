"""Confidence intervals of the rates the evaluation reports."""

from __future__ import annotations

import math
from statistics import NormalDist

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
