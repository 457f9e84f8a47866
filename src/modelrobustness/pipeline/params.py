"""Reading ``params.yaml``, checking it against its schema and turning its sections into the
library's frozen configs.

The schema is made of :class:`Section` objects whose leaves are
:mod:`~modelrobustness.utils.checks` rules: a config's own field rules (``ruled`` fields) for
the sections that build a config, and the rules beside each stage for the other keys. Each
stage module declares the part it owns (``train.TRAIN_SECTION``, ``download.DATA_KEYS``, ...);
``pipeline.schema`` puts them together for ``modelrobustness check-params``. Every error names
the params key, the value and what is allowed; :func:`validate` reports every problem of a
mapping at once. Defaults live in ``params.yaml`` only: a config field with a library default
(an internal setting such as a scoring batch size) is not a parameter.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from ..utils.checks import SEED, Boolean, Integer, InvalidValue, OneOf, Rule, field_rules
from ..utils.device import DEVICE_NAME
from ..utils.errors import UserError

if TYPE_CHECKING:
    import torch

Config = TypeVar("Config")

# the keys every stage that attacks reads: how many test images, how many at once
ATTACK_KEYS: dict[str, Rule] = {
    "samples": Integer(minimum=1),
    "batch_size": Integer(minimum=1),
    "nproc": Integer(minimum=1),
    "precision": OneOf(("fp32", "bf16", "fp16")),
}


class ParamsError(UserError, ValueError):
    """Values of params.yaml that cannot be used; each message names its key."""

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


def params_error(exc: InvalidValue, key: str | None = None) -> ParamsError:
    """``exc`` (a rule's error) about the params key ``key`` (default: the name it has)."""
    return ParamsError(invalid_message(exc, key))


def invalid_message(exc: InvalidValue, key: str | None = None) -> str:
    return f"parameter {key or exc.name} is {exc.value!r}; expected {exc.expected}"


def load_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """Read the pipeline's parameters (a YAML mapping); a file that is not one is an error
    naming the file and, for broken YAML, the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} not found (run from the project root)")
    try:
        with path.open(encoding="utf-8") as handle:
            params = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ParamsError(f"{path} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path} is not UTF-8 text ({exc.reason})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of parameters, got {type(params).__name__}")
    return params


def missing(key: str) -> ParamsError:
    return ParamsError(f"parameter {key} is missing from params.yaml")


def not_a_section(key: str, value: Any) -> str:
    return f"parameter {key} is {value!r}; expected a mapping of settings"


def get(params: Mapping[str, Any], key: str) -> Any:
    """``params[a][b]`` for ``key="a.b"``; a missing key, or a value where a section
    should be, is an error that names it."""
    node: Any = params
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Mapping):
            raise ParamsError(not_a_section(".".join(parts[:i]), node))
        if part not in node:
            raise missing(key)
        node = node[part]
    return node


@dataclass(frozen=True)
class Section:
    """The schema of a mapping of ``params.yaml``: each key's rule, or a nested section.

    ``optional``: any key may be left out (a section of overrides); ``nullable``: null
    counts as an empty mapping.
    """

    keys: Mapping[str, Rule | Section]
    optional: bool = False
    nullable: bool = False

    def leaves(self, prefix: str = "") -> dict[str, Rule | Section]:
        """``{dotted key: rule}`` of every leaf below (an optional section is one leaf)."""
        out: dict[str, Rule | Section] = {}
        for name, rule in self.keys.items():
            key = f"{prefix}{name}"
            if isinstance(rule, Section) and not rule.optional:
                out.update(rule.leaves(f"{key}."))
            else:
                out[key] = rule
        return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def validate(schema: Section, value: Any, key: str = "") -> tuple[dict[str, Any], list[str]]:
    """``value`` (the mapping at ``key``; ``""``: the whole file) checked against ``schema``:
    the checked values and the message of every problem (unknown keys with the keys known,
    missing keys, values a rule rejects)."""
    if value is None and schema.nullable:
        value = {}
    if not isinstance(value, Mapping):
        return {}, [
            not_a_section(key, value) if key else "params.yaml: expected a mapping of parameters"
        ]
    values: dict[str, Any] = {}
    errors = [
        f"unknown parameter {_join(key, str(name))}; {key or 'params.yaml'} knows "
        + ", ".join(schema.keys)
        for name in value
        if name not in schema.keys
    ]
    for name, rule in schema.keys.items():
        full = _join(key, name)
        if name not in value:
            if not schema.optional:
                errors.append(str(missing(full)))
        elif isinstance(rule, Section):
            values[name], inner = validate(rule, value[name], full)
            errors += inner
        else:
            try:
                values[name] = rule(full, value[name])
            except InvalidValue as exc:
                errors.append(invalid_message(exc))
    return values, errors


def checked_section(params: Mapping[str, Any], key: str, schema: Section) -> dict[str, Any]:
    """The checked values of the section at ``key``; any problem raises them all."""
    try:
        value = get(params, key)
    except ParamsError:
        if not (schema.nullable or schema.optional):
            raise
        value = None
    values, errors = validate(schema, value, key)
    if errors:
        raise ParamsError(*errors)
    return values


def checked_keys(params: Mapping[str, Any], key: str, rules: Mapping[str, Rule]) -> dict[str, Any]:
    """The checked values of some keys of the section at ``key`` (the section may hold
    others, owned by other stages)."""
    section = get(params, key)
    if not isinstance(section, Mapping):
        raise ParamsError(not_a_section(key, section))
    subset = {name: section[name] for name in rules if name in section}
    values, errors = validate(Section(rules), subset, key)
    if errors:
        raise ParamsError(*errors)
    return values


def checked(params: Mapping[str, Any], key: str, rule: Rule) -> Any:
    """The value at ``key``, checked by ``rule``."""
    try:
        return rule(key, get(params, key))
    except InvalidValue as exc:
        raise params_error(exc) from None


def _parameters(cls: type) -> dict[str, dataclasses.Field]:
    """The fields of a config that params set: those without a library default."""
    return {
        f.name: f
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def config_section(
    cls: type,
    *,
    nested: Mapping[str, tuple[str, ...]] | None = None,
    optional: bool = False,
    nullable: bool = False,
) -> Section:
    """The schema of a section that builds the config ``cls``: its parameter fields' rules,
    those in ``nested`` grouped in sub-sections (``{"augment": ("crop_padding", "flip")}``
    for ``train.augment``, where null counts as empty)."""
    rules = field_rules(cls)
    missing = set(_parameters(cls)) - set(rules)
    if missing:  # every parameter field must say what it allows
        raise TypeError(f"{cls.__name__} fields without a rule: {sorted(missing)}")
    nested = dict(nested or {})
    grouped = {f for fields in nested.values() for f in fields}
    keys: dict[str, Rule | Section] = {n: r for n, r in rules.items() if n not in grouped}
    for sub, fields in nested.items():
        keys[sub] = Section({f: rules[f] for f in fields}, optional=optional, nullable=True)
    return Section(keys, optional=optional, nullable=nullable)


def make_config(cls: type[Config], values: Mapping[str, Any], *, keys: Mapping[str, str]) -> Config:
    """``cls(**values)`` for a frozen config dataclass, with errors that name params keys.

    ``keys`` maps each field to its params key. Every field without a library default must
    be given; a value the config rejects (a rule across fields, say) is reported under its
    key.
    """
    for name in _parameters(cls):
        if name not in values:
            raise missing(keys[name])
    try:
        return cls(**values)
    except InvalidValue as exc:
        field, _, rest = exc.name.partition("[")
        key = keys.get(field, field) + (f"[{rest}" if rest else "")
        raise params_error(exc, key) from None


def section_config(
    cls: type[Config],
    params: Mapping[str, Any],
    key: str,
    *,
    nested: Mapping[str, tuple[str, ...]] | None = None,
    overrides: str | None = None,
) -> Config:
    """The config ``cls`` made from the section at ``key`` (schema: :func:`config_section`).

    ``overrides`` names another section whose keys replace the section's (``distill.model``
    over ``model``; every key optional, null counts as empty)."""
    values = checked_section(params, key, config_section(cls, nested=nested))
    flat, keys = {}, {}
    for name, value in values.items():
        if nested and name in nested:
            for field, inner in value.items():
                flat[field], keys[field] = inner, f"{key}.{name}.{field}"
        else:
            flat[name], keys[name] = value, f"{key}.{name}"
    if overrides is not None:
        changes = checked_section(
            params, overrides, config_section(cls, optional=True, nullable=True)
        )
        for name, value in changes.items():
            flat[name], keys[name] = value, f"{overrides}.{name}"
    return make_config(cls, flat, keys=keys)


def seed(params: Mapping[str, Any]) -> int:
    """``seed``: every random draw of every stage derives from it."""
    return checked(params, "seed", SEED)


def device(params: Mapping[str, Any]) -> torch.device:
    """``device`` resolved (``auto``: CUDA when available, else CPU); a device this machine
    does not have is an error naming the key. On CUDA with ``deterministic: true`` torch's
    deterministic algorithms are switched on (:func:`~..utils.device.make_deterministic`)."""
    from ..utils.device import make_deterministic, resolve_device  # import torch when asked

    deterministic = checked(params, "deterministic", Boolean())
    try:
        resolved = resolve_device(checked(params, "device", DEVICE_NAME))
    except InvalidValue as exc:
        raise params_error(exc, "device") from None
    if deterministic:
        make_deterministic(resolved)
    return resolved


def attack_processes(params: Mapping[str, Any]) -> int:
    """``attack.nproc``: the processes (torchrun) the attack stages share their batches
    among."""
    return checked_keys(params, "attack", ATTACK_KEYS)["nproc"]


def attack_precision(params: Mapping[str, Any]) -> str:
    """``attack.precision``: fp32 (the attacks' gradients in full precision) or, on CUDA,
    bf16 or fp16 autocast."""
    return checked_keys(params, "attack", ATTACK_KEYS)["precision"]


def attack_samples(params: Mapping[str, Any]) -> tuple[int, int]:
    """``attack.samples`` (the first N test images are attacked) and ``attack.batch_size``."""
    values = checked_keys(params, "attack", ATTACK_KEYS)
    return values["samples"], values["batch_size"]
