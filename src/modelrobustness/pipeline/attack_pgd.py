"""Stage ``attack_pgd@<model>``: PGD on the first ``attack.samples`` test images of a model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..evaluation.pgd import PGDConfig, evaluate_pgd
from .attack_stage import run_attack_stage
from .params import config_section, load_params, section_config

PGD_SECTION = config_section(PGDConfig)


def pgd_config(params: Mapping[str, Any]) -> PGDConfig:
    """The ``attack.pgd`` section."""
    return section_config(PGDConfig, params, "attack.pgd")


def main(model_name: str) -> None:
    params = load_params()
    config = pgd_config(params)
    m = run_attack_stage(
        params,
        attack="pgd",
        model_name=model_name,
        evaluate=functools.partial(evaluate_pgd, config=config),
        curve_columns=["eps", "robust_accuracy"],
        title=f"PGD {config.norm} eps={config.eps:g} on {model_name}",
    )
    after = ", ".join(f"{k} {v:.4f}" for k, v in m["robust_accuracy_by_attack"].items())
    print(
        f"pgd@{model_name}: clean {m['clean_accuracy']:.4f}, robust "
        f"{m['robust_accuracy']:.4f} (after {after}), {m['seconds']:.1f} s"
    )
