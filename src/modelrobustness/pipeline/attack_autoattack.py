"""The AutoAttack ensemble (APGD-CE, APGD-T, Square) and the gradient-masking evidence, the
second attack of stage ``attack@<model>``, on the first ``attack.samples`` test images of a
model: its parameters (``attack.autoattack``) and its run."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.autoattack import AutoAttackConfig, evaluate_autoattack
from .attack_stage import AttackRun, robust_summary
from .params import config_section, section_config
from .threat import pgd_threat

AUTOATTACK_SECTION = config_section(AutoAttackConfig)


def autoattack_settings(params: Mapping[str, Any]) -> tuple[AutoAttackConfig, float, str]:
    """The ``attack.autoattack`` section, its budget (``attack.pgd.eps`` when null) and the
    norm (``attack.pgd.norm``)."""
    config = section_config(AutoAttackConfig, params, "attack.autoattack")
    eps, norm = pgd_threat(params, eps=config.eps, eps_key="attack.autoattack.eps")
    return config, eps, norm


def autoattack_run(params: Mapping[str, Any]) -> AttackRun:
    """The ensemble as ``attack.autoattack`` sets it."""
    config, eps, norm = autoattack_settings(params)
    return AttackRun(
        attack="autoattack",
        evaluate=functools.partial(evaluate_autoattack, config=config, eps=eps, norm=norm),
        curve_columns=["attack", "robust_accuracy"],
        title=f"AutoAttack ({config.version}) {norm} eps={eps:g} on {{model}}",
        summary=robust_summary,
    )
