"""Reading ``params.yaml`` and checking the values users set in it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml


def load_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """Read the pipeline's parameters (a YAML mapping)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} not found (run from the project root)")
    with path.open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of parameters, got {type(params).__name__}")
    return params


def get(params: Mapping[str, Any], dotted: str) -> Any:
    """Return ``params[a][b]`` for ``dotted="a.b"``; a clear KeyError names the missing key."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"parameter {dotted!r} is missing from params.yaml")
        node = node[part]
    return node


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Raise a ValueError naming the parameter and the expected values unless allowed."""
    allowed = list(allowed)
    if value not in allowed:
        expected = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"parameter {name} is {value!r}; expected one of {expected}")
    return value


def check_fraction(name: str, value: Any, *, low: float = 0.0, high: float = 1.0) -> float:
    """Check that ``value`` is a number strictly inside (low, high)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low < value < high:
        raise ValueError(f"parameter {name} is {value!r}; expected a number in ({low}, {high})")
    return float(value)


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """Check that ``value`` is an integer >= 1 (or None when allowed)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        hint = " or null" if allow_none else ""
        raise ValueError(f"parameter {name} is {value!r}; expected an integer >= 1{hint}")
    return value


def check_known_keys(section: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Raise a ValueError naming the section's unknown keys and the known ones."""
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown {section} parameter(s) {sorted(unknown)}; known: "
                         f"{sorted(known)}")
