"""Stage ``attack_autoattack@<model>``: the AutoAttack ensemble (APGD-CE, APGD-T, Square) and
the gradient-masking evidence on the first ``attack.samples`` test images of a model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..attacks.ball import NORMS
from ..evaluation.autoattack import AutoAttackConfig, evaluate_autoattack
from ..evaluation.pgd import BUDGET, LINF_BUDGET
from ..utils.checks import InvalidValue, OneOf
from .attack_stage import run_attack_stage
from .params import checked_keys, config_section, load_params, params_error, section_config

AUTOATTACK_SECTION = config_section(AutoAttackConfig)
# what the stage reads of attack.pgd: the threat model it shares
PGD_THREAT_KEYS = {"eps": BUDGET, "norm": OneOf(NORMS)}


def autoattack_settings(params: Mapping[str, Any]) -> tuple[AutoAttackConfig, float, str]:
    """The ``attack.autoattack`` section, its budget (``attack.pgd.eps`` when null) and the
    norm (``attack.pgd.norm``)."""
    config = section_config(AutoAttackConfig, params, "attack.autoattack")
    threat = checked_keys(params, "attack.pgd", PGD_THREAT_KEYS)
    eps = threat["eps"] if config.eps is None else config.eps
    if threat["norm"] == "linf" and eps > 1:
        key = "attack.pgd.eps" if config.eps is None else "attack.autoattack.eps"
        raise params_error(InvalidValue(key, eps, LINF_BUDGET.expected))
    return config, eps, threat["norm"]


def main(model_name: str) -> None:
    params = load_params()
    config, eps, norm = autoattack_settings(params)
    m = run_attack_stage(params, attack="autoattack", model_name=model_name,
                         evaluate=functools.partial(evaluate_autoattack, config=config,
                                                    eps=eps, norm=norm),
                         curve_columns=["attack", "robust_accuracy"],
                         title=f"AutoAttack ({config.version}) {norm} eps={eps:g} on "
                               f"{model_name}")
    after = ", ".join(f"{k} {v:.4f}" for k, v in m["robust_accuracy_by_attack"].items())
    print(f"autoattack@{model_name}: clean {m['clean_accuracy']:.4f}, robust "
          f"{m['robust_accuracy']:.4f} (after {after}), {m['seconds']:.1f} s")
