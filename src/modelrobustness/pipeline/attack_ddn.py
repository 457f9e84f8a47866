"""DDN, the last attack of stage ``attack@<model>``, on the first ``attack.samples`` test
images of a model: its parameters (``attack.ddn``) and its run."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.ddn import DDNConfig, evaluate_ddn
from .attack_stage import AttackRun
from .params import config_section, section_config

DDN_SECTION = config_section(DDNConfig)


def ddn_config(params: Mapping[str, Any]) -> DDNConfig:
    """The ``attack.ddn`` section."""
    return section_config(DDNConfig, params, "attack.ddn")


def ddn_summary(m: Mapping[str, Any]) -> str:
    """DDN's log line: clean accuracy, success rate, median minimal L2, the seconds."""
    median = "–" if m["median_l2"] is None else f"{m['median_l2']:.4f}"
    return (
        f"clean {m['clean_accuracy']:.4f}, success {m['attack_success_rate']:.4f}, "
        f"median L2 {median}, {m['seconds']:.1f} s"
    )


def ddn_run(params: Mapping[str, Any]) -> AttackRun:
    """DDN as ``attack.ddn`` sets it."""
    config = ddn_config(params)
    return AttackRun(
        attack="ddn",
        evaluate=functools.partial(evaluate_ddn, config=config),
        curve_columns=["l2", "accuracy"],
        title=f"DDN ({config.steps} steps) on {{model}}",
        summary=ddn_summary,
    )
