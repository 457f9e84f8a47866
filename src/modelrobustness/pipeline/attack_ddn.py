"""Stage ``attack_ddn@<model>``: DDN on the first ``attack.samples`` test images of a model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.ddn import DDNConfig, evaluate_ddn
from .attack_stage import run_attack_stage
from .params import config_section, load_params, section_config

DDN_SECTION = config_section(DDNConfig)


def ddn_config(params: Mapping[str, Any]) -> DDNConfig:
    """The ``attack.ddn`` section."""
    return section_config(DDNConfig, params, "attack.ddn")


def main(model_name: str) -> None:
    params = load_params()
    config = ddn_config(params)
    m = run_attack_stage(
        params,
        attack="ddn",
        model_name=model_name,
        evaluate=functools.partial(evaluate_ddn, config=config),
        curve_columns=["l2", "accuracy"],
        title=f"DDN ({config.steps} steps) on {model_name}",
    )
    median = "–" if m["median_l2"] is None else f"{m['median_l2']:.4f}"
    print(
        f"ddn@{model_name}: clean {m['clean_accuracy']:.4f}, success "
        f"{m['attack_success_rate']:.4f}, median L2 {median}, {m['seconds']:.1f} s"
    )
