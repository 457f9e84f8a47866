"""Stage ``attack_autoattack@<model>``: the AutoAttack ensemble (APGD-CE, APGD-T, Square) and
the gradient-masking evidence on the first ``attack.samples`` test images of a model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.autoattack import AutoAttackConfig, evaluate_autoattack
from .attack_stage import run_attack_stage
from .params import config_section, load_params, section_config
from .threat import pgd_threat

AUTOATTACK_SECTION = config_section(AutoAttackConfig)


def autoattack_settings(params: Mapping[str, Any]) -> tuple[AutoAttackConfig, float, str]:
    """The ``attack.autoattack`` section, its budget (``attack.pgd.eps`` when null) and the
    norm (``attack.pgd.norm``)."""
    config = section_config(AutoAttackConfig, params, "attack.autoattack")
    eps, norm = pgd_threat(params, eps=config.eps, eps_key="attack.autoattack.eps")
    return config, eps, norm


def main(model_name: str) -> None:
    params = load_params()
    config, eps, norm = autoattack_settings(params)
    m = run_attack_stage(
        params,
        attack="autoattack",
        model_name=model_name,
        evaluate=functools.partial(evaluate_autoattack, config=config, eps=eps, norm=norm),
        curve_columns=["attack", "robust_accuracy"],
        title=f"AutoAttack ({config.version}) {norm} eps={eps:g} on {model_name}",
    )
    after = ", ".join(f"{k} {v:.4f}" for k, v in m["robust_accuracy_by_attack"].items())
    print(
        f"autoattack@{model_name}: clean {m['clean_accuracy']:.4f}, robust "
        f"{m['robust_accuracy']:.4f} (after {after}), {m['seconds']:.1f} s"
    )
