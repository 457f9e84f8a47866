"""The one schema of ``params.yaml``: every key, its rule, put together from the parts each
stage module owns; and :func:`check_params`, which checks a whole file at once (what
``modelrobustness check-params`` and ``make repro`` run before DVC touches any output).

This module imports every stage module, so no stage imports it: each stage checks its own
sections with the same rules when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..utils.checks import SEED, Boolean
from ..utils.device import DEVICE_NAME
from . import (
    adversarial,
    attack_autoattack,
    attack_ddn,
    attack_pgd,
    detect,
    distill,
    download,
    split,
    train,
)
from .params import ATTACK_KEYS, ParamsError, Section, attack_samples, device, seed, validate

PARAMS_SCHEMA = Section(
    {
        "seed": SEED,
        "device": DEVICE_NAME,
        "deterministic": Boolean(),
        "data": Section({**download.DATA_KEYS, **split.DATA_KEYS}),
        "split": split.SPLIT_SECTION,
        "model": train.MODEL_SECTION,
        "train": train.TRAIN_SECTION,
        "attack": Section(
            {
                **ATTACK_KEYS,
                "pgd": attack_pgd.PGD_SECTION,
                "autoattack": attack_autoattack.AUTOATTACK_SECTION,
                "ddn": attack_ddn.DDN_SECTION,
            }
        ),
        "distill": distill.DISTILL_SECTION,
        "adversarial": adversarial.ADVERSARIAL_SECTION,
        "squeeze": detect.SQUEEZE_SECTION,
    }
)

# Every adapter a stage calls: they add the rules across keys (ImageNet weights for resnet18
# only, val + test fractions below 1, an L-inf budget at most 1, an existing data.path, the
# detector's L-inf attack, a device this machine has).
ADAPTERS: tuple[Callable[[Mapping[str, Any]], Any], ...] = (
    seed,
    split.split_config,
    train.architecture_config,
    train.fit_config,
    distill.distilled_architecture,
    distill.temperature,
    attack_samples,
    attack_pgd.pgd_config,
    attack_autoattack.autoattack_settings,
    attack_ddn.ddn_config,
    detect.squeeze_config,
    detect.detector_attack_config,
    adversarial.adversarial_settings,
    device,
)


def check_params(params: Mapping[str, Any], *, root: Path = Path(".")) -> list[str]:
    """Every problem of a whole parameter set, one message each (empty: all is well).
    ``root`` is the project folder (relative ``data.path``)."""
    _, errors = validate(PARAMS_SCHEMA, params)
    for adapter in (*ADAPTERS, lambda p: download.download_settings(p, root)):
        try:
            adapter(params)
        except ParamsError as exc:
            errors += [m for m in exc.messages if m not in errors]
    return errors


def leaf_keys() -> list[str]:
    """Every dotted key the schema knows (an overrides section such as ``distill.model``
    counts as one key)."""
    return list(PARAMS_SCHEMA.leaves())
