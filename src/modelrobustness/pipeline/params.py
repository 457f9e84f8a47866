"""Reading ``params.yaml`` and turning its sections into the library's frozen configs.

Every error names the params key and what is allowed. The section adapters live beside the
stage that owns the section (``train.fit_config``, ``attack_pgd.pgd_config``, ...) and all go
through :func:`make_config`, so unknown keys, missing keys and bad values read the same
everywhere; defaults live in ``params.yaml`` only.
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


def _error(key: str, exc: InvalidValue) -> ParamsError:
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
        raise _error(key, exc) from None


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


def make_config(cls: type[Config], values: Mapping[str, Any], *,
                keys: Mapping[str, str]) -> Config:
    """``cls(**values)`` for a frozen config dataclass, with errors that name params keys.

    ``keys`` maps each field to its params key. Every field without a library default must
    be given; a value the config rejects is reported under its key.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, field in fields.items():
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        if required and name not in values:
            raise ParamsError(f"parameter {keys[name]} is missing from params.yaml")
    try:
        return cls(**values)
    except InvalidValue as exc:
        field, _, rest = exc.name.partition("[")
        key = keys.get(field, field) + (f"[{rest}" if rest else "")
        raise _error(key, exc) from None


def section_config(cls: type[Config], params: Mapping[str, Any], key: str, *,
                   nested: tuple[str, ...] = ()) -> Config:
    """A config made from the section at ``key`` (with the sub-sections ``nested`` flattened
    into it); keys the config does not know are an error listing the known ones."""
    values = dict(section(params, key))
    keys = {name: f"{key}.{name}" for name in values}
    for sub in nested:
        inner = section(params, f"{key}.{sub}") if sub in values else {}
        values.pop(sub, None)
        keys.pop(sub, None)
        values.update(inner)
        keys.update({name: f"{key}.{sub}.{name}" for name in inner})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(keys[name] for name in values if name not in known)
    if unknown:
        raise ParamsError(f"unknown parameter(s) {', '.join(unknown)}; {key} knows "
                          f"{', '.join(sorted(known | set(nested)))}")
    for name in known:
        keys.setdefault(name, f"{key}.{name}")
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
        raise _error("device", exc) from None


def attack_samples(params: Mapping[str, Any]) -> tuple[int, int]:
    """``attack.samples`` (the first N test images are attacked) and ``attack.batch_size``."""
    return (checked(params, "attack.samples", check_int),
            checked(params, "attack.batch_size", check_int))
