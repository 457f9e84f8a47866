"""PGD, the first attack of stage ``attack@<model>``, on the first ``attack.samples`` test
images of a model: its parameters (``attack.pgd``) and its run."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.pgd import PGDConfig, evaluate_pgd
from .attack_stage import AttackRun, robust_summary
from .params import config_section, section_config

PGD_SECTION = config_section(PGDConfig)


def pgd_config(params: Mapping[str, Any]) -> PGDConfig:
    """The ``attack.pgd`` section."""
    return section_config(PGDConfig, params, "attack.pgd")


def pgd_run(params: Mapping[str, Any]) -> AttackRun:
    """PGD as ``attack.pgd`` sets it."""
    config = pgd_config(params)
    return AttackRun(
        attack="pgd",
        evaluate=functools.partial(evaluate_pgd, config=config),
        curve_columns=["eps", "robust_accuracy"],
        title=f"PGD {config.norm} eps={config.eps:g} on {{model}}",
        summary=robust_summary,
    )
