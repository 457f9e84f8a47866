"""Confidence intervals of the rates the evaluation reports."""

from __future__ import annotations

CONFIDENCE = 0.95


def wilson_interval(
    successes: int, trials: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Wilson score interval (Wilson 1927) of a binomial proportion ``successes / trials``
    (scipy's ``binomtest(...).proportion_ci(method="wilson")``); None without trials.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or 1:
    0 robust images of 300 still leave [0, 0.0126]."""
    if trials <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(trials)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(ci.low), float(ci.high)
