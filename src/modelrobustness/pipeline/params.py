"""Reading ``params.yaml`` and turning its sections into the library's frozen configs.

Every error names the params key and what is allowed. The section adapters live beside the
stage that owns the section (``train.fit_config``, ``attack_pgd.pgd_config``, ...); configs
go through :func:`section_config` / :func:`make_config` and single values through
:func:`checked`, so unknown keys, missing keys and bad values read the same everywhere.
Defaults live in ``params.yaml`` only: a config field with a library default (an internal
setting such as a scoring batch size) is not a parameter.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from ..utils.checks import InvalidValue, check_int

if TYPE_CHECKING:
    import torch

Config = TypeVar("Config")


class ParamsError(ValueError):
    """A value of params.yaml that cannot be used; the message names its key."""


def params_error(key: str, exc: InvalidValue) -> ParamsError:
    """``exc`` (a library check's error) about the params key ``key``."""
    return ParamsError(f"parameter {key} is {exc.value!r}; expected {exc.expected}")


def load_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """Read the pipeline's parameters (a YAML mapping)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} not found (run from the project root)")
    with path.open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of parameters, got "
                          f"{type(params).__name__}")
    return params


def get(params: Mapping[str, Any], key: str) -> Any:
    """``params[a][b]`` for ``key="a.b"``; a missing key is an error that names it."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ParamsError(f"parameter {key} is missing from params.yaml")
        node = node[part]
    return node


def checked(params: Mapping[str, Any], key: str, check: Callable[..., Any], **options) -> Any:
    """``check(key, value, **options)`` (a :mod:`~modelrobustness.utils.checks` function) on
    the value at ``key``."""
    try:
        return check(key, get(params, key), **options)
    except InvalidValue as exc:
        raise params_error(key, exc) from None


def section(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The mapping at ``key``."""
    value = get(params, key)
    if not isinstance(value, Mapping):
        raise ParamsError(f"parameter {key} is {value!r}; expected a mapping of settings")
    return value


def gather(params: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """``{field: value at key}`` for each ``keys`` entry present in ``params`` (a missing
    one is left for :func:`make_config` to report)."""
    out = {}
    for field, key in keys.items():
        try:
            out[field] = get(params, key)
        except ParamsError:
            continue
    return out


def reject_unknown(params: Mapping[str, Any], key: str, known: set[str]) -> None:
    """The section at ``key`` may hold only the keys ``known``."""
    unknown = sorted(set(section(params, key)) - known)
    if unknown:
        raise ParamsError(f"unknown parameter(s) {', '.join(f'{key}.{k}' for k in unknown)}; "
                          f"{key} knows {', '.join(sorted(known))}")


def _optional_section(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The mapping at ``key``, where null means empty."""
    value = get(params, key)
    return {} if value is None else section(params, key)


def _parameters(cls: type) -> dict[str, dataclasses.Field]:
    """The fields of a config that params set: those without a library default."""
    return {f.name: f for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def make_config(cls: type[Config], values: Mapping[str, Any], *,
                keys: Mapping[str, str]) -> Config:
    """``cls(**values)`` for a frozen config dataclass, with errors that name params keys.

    ``keys`` maps each field to its params key. Every field without a library default must
    be given; a value the config rejects is reported under its key.
    """
    for name in _parameters(cls):
        if name not in values:
            raise ParamsError(f"parameter {keys[name]} is missing from params.yaml")
    try:
        return cls(**values)
    except InvalidValue as exc:
        field, _, rest = exc.name.partition("[")
        key = keys.get(field, field) + (f"[{rest}" if rest else "")
        raise params_error(key, exc) from None


def section_config(cls: type[Config], params: Mapping[str, Any], key: str, *,
                   nested: Mapping[str, tuple[str, ...]] | None = None,
                   overrides: str | None = None) -> Config:
    """A config made from the section at ``key``.

    ``nested`` maps a sub-section to the fields it holds (``{"augment": ("crop_padding",
    "flip")}`` for ``train.augment``; null counts as empty). ``overrides`` names another
    section whose keys replace the section's (``distill.model`` over ``model``). Keys the
    config does not take are an error listing the ones it does."""
    nested = dict(nested or {})
    located = {field: f"{key}.{sub}.{field}" for sub, fields in nested.items()
               for field in fields}
    allowed = set(_parameters(cls)) - set(located) | set(nested)
    values, keys = {}, {}
    for name, value in section(params, key).items():
        if name in nested:
            for field, inner in _optional_section(params, f"{key}.{name}").items():
                if field not in nested[name]:
                    raise ParamsError(f"unknown parameter {key}.{name}.{field}; {key}.{name} "
                                      f"knows {', '.join(nested[name])}")
                values[field], keys[field] = inner, f"{key}.{name}.{field}"
        elif name not in allowed:
            raise ParamsError(f"unknown parameter {key}.{name}; {key} knows "
                              f"{', '.join(sorted(allowed))}")
        else:
            values[name], keys[name] = value, f"{key}.{name}"
    if overrides is not None:
        for name, value in _optional_section(params, overrides).items():
            if name not in allowed - set(nested):
                raise ParamsError(f"unknown parameter {overrides}.{name}; {overrides} "
                                  f"knows {', '.join(sorted(allowed - set(nested)))}")
            values[name], keys[name] = value, f"{overrides}.{name}"
    for name in _parameters(cls):
        keys.setdefault(name, located.get(name, f"{key}.{name}"))
    return make_config(cls, values, keys=keys)


def seed(params: Mapping[str, Any]) -> int:
    """``seed``: every random draw of every stage derives from it."""
    return checked(params, "seed", check_int, minimum=0)


def device(params: Mapping[str, Any]) -> torch.device:
    """``device`` resolved (``auto``: CUDA when available, else CPU)."""
    from ..utils.device import resolve_device  # imports torch: only when asked

    try:
        return resolve_device(get(params, "device"))
    except InvalidValue as exc:
        raise params_error("device", exc) from None


def attack_samples(params: Mapping[str, Any]) -> tuple[int, int]:
    """``attack.samples`` (the first N test images are attacked) and ``attack.batch_size``."""
    return (checked(params, "attack.samples", check_int),
            checked(params, "attack.batch_size", check_int))
