"""The library's configs as ``params.yaml`` sets them (through the pipeline's adapters), with
a test's overrides: tests start from the shipped defaults, never from a second copy."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelrobustness.pipeline.params import load_params

from helpers.imports import ROOT


def params() -> dict[str, Any]:
    """The project's ``params.yaml``."""
    return load_params(ROOT / "params.yaml")


def fit_config(**overrides: Any):
    from modelrobustness.pipeline.train import fit_config as adapter

    return dataclasses.replace(adapter(params()), **overrides)


def pgd_config(**overrides: Any):
    from modelrobustness.pipeline.attack_pgd import pgd_config as adapter

    return dataclasses.replace(adapter(params()), **overrides)


def ddn_config(**overrides: Any):
    from modelrobustness.pipeline.attack_ddn import ddn_config as adapter

    return dataclasses.replace(adapter(params()), **overrides)


def squeeze_config(**overrides: Any):
    from modelrobustness.pipeline.detect import squeeze_config as adapter

    return dataclasses.replace(adapter(params()), **overrides)
