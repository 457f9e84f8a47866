"""The threat model the attack stages share with adversarial training: ``attack.pgd``'s
budget and norm, a stage's own ``eps`` key overriding the budget when set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..attacks.ball import BUDGET, LINF_BUDGET, NORMS
from ..utils.checks import InvalidValue, OneOf
from .params import checked_keys, params_error

# what a stage reads of attack.pgd: the threat model
PGD_THREAT_KEYS = {"eps": BUDGET, "norm": OneOf(NORMS)}


def pgd_threat(
    params: Mapping[str, Any], *, eps: float | None = None, eps_key: str | None = None
) -> tuple[float, str]:
    """(budget, norm): ``attack.pgd.eps`` unless ``eps`` (read from ``eps_key``) is given,
    and ``attack.pgd.norm``. An L-inf budget above 1 is an error naming the key that set
    it."""
    threat = checked_keys(params, "attack.pgd", PGD_THREAT_KEYS)
    key = "attack.pgd.eps" if eps is None else eps_key or "eps"
    eps = threat["eps"] if eps is None else eps
    if threat["norm"] == "linf" and eps > 1:
        raise params_error(InvalidValue(key, eps, LINF_BUDGET.expected))
    return eps, threat["norm"]
