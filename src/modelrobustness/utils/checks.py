"""The one validator family: every check raises :class:`InvalidValue`, whose message has one
style, ``<name> is <value>; expected <what>``. Library code names its own argument or field;
the pipeline's params adapter reports it as ``parameter <key> is <value>; expected <what>``.

A :class:`Rule` is a check kept as a value (``Integer(minimum=1)``, ``OneOf(...)``,
``ListOf(...)``), so that the same rule validates a config field (:func:`ruled` fields,
applied by :func:`check_fields`) and describes it to a schema; the ``check_*`` functions are
the same rules called once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

RULE_KEY = "rule"  # the dataclass field metadata entry holding a field's rule


class InvalidValue(ValueError):
    """A value outside what is allowed; ``name``, ``value`` and ``expected`` say which."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"{name} is {value!r}; expected {expected}")
        self.name, self.value, self.expected = name, value, expected

    def renamed(self, name: str) -> InvalidValue:
        """The same error about ``name`` (a params key, say)."""
        return InvalidValue(name, self.value, self.expected)


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


class Rule:
    """A check of one value: ``rule(name, value)`` returns the value (normalised: tuples for
    lists, floats for numbers) or raises :class:`InvalidValue` naming ``name``;
    ``expected`` says what is allowed."""

    expected: str = "a valid value"

    def __call__(self, name: str, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Rule):
    """An integer (not a bool, not a float) from ``minimum`` to ``maximum``."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def expected(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"an integer from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"an integer >= {self.minimum}"
        if self.maximum is not None:
            return f"an integer <= {self.maximum}"
        return "an integer"

    def __call__(self, name: str, value: Any) -> int:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
        ):
            raise InvalidValue(name, value, self.expected)
        return value


@dataclass(frozen=True)
class Number(Rule):
    """A finite number between ``low`` and ``high`` (each end closed or open); ``unit`` is
    said after the range."""

    low: float | None = None
    high: float | None = None
    closed_low: bool = True
    closed_high: bool = True
    unit: str = ""

    @property
    def expected(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "[" if self.closed_low else "(", "]" if self.closed_high else ")"
            text = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        elif self.low is not None:
            text = f"a number {'>=' if self.closed_low else '>'} {self.low:g}"
        elif self.high is not None:
            text = f"a number {'<=' if self.closed_high else '<'} {self.high:g}"
        else:
            text = "a finite number"
        return f"{text} {self.unit}" if self.unit else text

    def __call__(self, name: str, value: Any) -> float:
        inside = _is_number(value)
        if inside and self.low is not None:
            inside = value >= self.low if self.closed_low else value > self.low
        if inside and self.high is not None:
            inside = value <= self.high if self.closed_high else value < self.high
        if not inside:
            raise InvalidValue(name, value, self.expected)
        return float(value)


@dataclass(frozen=True)
class Boolean(Rule):
    """``true`` or ``false`` (not a string or a number)."""

    expected: str = "true or false"

    def __call__(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue(name, value, self.expected)
        return value


@dataclass(frozen=True)
class OneOf(Rule):
    """One of ``choices``."""

    choices: tuple[Any, ...]

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def __call__(self, name: str, value: Any) -> Any:
        if isinstance(value, (list, dict)) or value not in self.choices:
            raise InvalidValue(name, value, self.expected)
        return value


@dataclass(frozen=True)
class Text(Rule):
    """A non-empty string; ``what`` names it in the message."""

    what: str = "a non-empty string"

    @property
    def expected(self) -> str:
        return self.what

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(name, value, self.expected)
        return value


@dataclass(frozen=True)
class Nullable(Rule):
    """``null`` (None) or a value ``rule`` accepts."""

    rule: Rule

    @property
    def expected(self) -> str:
        return f"{self.rule.expected} or null"

    def __call__(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.rule(name, value)
        except InvalidValue as exc:
            # an element's error inside a list stays about the element
            raise exc if exc.name != name else InvalidValue(name, value, self.expected) from None


@dataclass(frozen=True)
class ListOf(Rule):
    """A list of at least ``min_length`` items, each checked by ``item`` (errors name
    ``<name>[i]``), without repeats when ``unique``; returned as a tuple."""

    item: Rule
    min_length: int = 1
    unique: bool = False

    @property
    def expected(self) -> str:
        size = (
            "a non-empty list"
            if self.min_length == 1
            else ("a list" if self.min_length == 0 else f"a list of at least {self.min_length}")
        )
        return f"{size}, each {self.item.expected}" + (", without repeats" if self.unique else "")

    def __call__(self, name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length:
            raise InvalidValue(name, value, self.expected)
        items = tuple(self.item(f"{name}[{i}]", v) for i, v in enumerate(value))
        if self.unique:
            seen: list[Any] = []
            for i, v in enumerate(items):
                if v in seen:
                    raise InvalidValue(
                        f"{name}[{i}]", value[i], f"a value not already in {name} (no repeats)"
                    )
                seen.append(v)
        return items


@dataclass(frozen=True)
class Satisfies(Rule):
    """A value ``check(value)`` accepts: it returns the value (possibly normalised) or raises
    :class:`InvalidValue`, reported under ``name`` with ``expected``."""

    check: Callable[[Any], Any]
    what: str

    @property
    def expected(self) -> str:
        return self.what

    def __call__(self, name: str, value: Any) -> Any:
        try:
            return self.check(value)
        except InvalidValue as exc:
            raise InvalidValue(name, value, exc.expected) from None


# a seed every generator takes (numpy's and sklearn's are 32-bit)
SEED = Integer(minimum=0, maximum=2**32 - 1)


def ruled(rule: Rule) -> Any:
    """A dataclass field (without default) checked by ``rule`` in :func:`check_fields`."""
    return dataclasses.field(metadata={RULE_KEY: rule})


def field_rules(cls: type) -> dict[str, Rule]:
    """``{field: rule}`` of a config dataclass's :func:`ruled` fields."""
    return {f.name: f.metadata[RULE_KEY] for f in dataclasses.fields(cls) if RULE_KEY in f.metadata}


def check_fields(instance: Any) -> None:
    """Apply each :func:`ruled` field's rule to a (frozen) dataclass instance, storing the
    normalised value; the error names the field."""
    for name, rule in field_rules(type(instance)).items():
        object.__setattr__(instance, name, rule(name, getattr(instance, name)))


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` must be one of ``allowed``."""
    return OneOf(tuple(allowed))(name, value)


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    return Number(low=0.0, closed_low=False)(name, value)


def check_non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    return Number(low=0.0)(name, value)


def check_fraction(
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float = 1.0,
    closed_low: bool = False,
    closed_high: bool = False,
) -> float:
    """A number inside (low, high); ``closed_low``/``closed_high`` admit the ends."""
    return Number(low=low, high=high, closed_low=closed_low, closed_high=closed_high)(name, value)


def check_int(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """An integer >= ``minimum`` (or None when ``allow_none``)."""
    rule: Rule = Integer(minimum=minimum)
    return (Nullable(rule) if allow_none else rule)(name, value)


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not a string or a number)."""
    return Boolean()(name, value)
