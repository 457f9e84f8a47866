"""The one validator family: every check raises :class:`InvalidValue`, whose message has one
style, ``<name> is <value>; expected <what>``. Library code names its own argument or field;
the pipeline's params adapter reports it as ``parameter <key> is <value>; expected <what>``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class InvalidValue(ValueError):
    """A value outside what is allowed; ``name``, ``value`` and ``expected`` say which."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"{name} is {value!r}; expected {expected}")
        self.name, self.value, self.expected = name, value, expected

    def renamed(self, name: str) -> InvalidValue:
        """The same error about ``name`` (a params key, say)."""
        return InvalidValue(name, self.value, self.expected)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` must be one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise InvalidValue(name, value, "one of " + ", ".join(repr(a) for a in allowed))
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    if not _is_number(value) or not value > 0:
        raise InvalidValue(name, value, "a number > 0")
    return float(value)


def check_non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    if not _is_number(value) or not value >= 0:
        raise InvalidValue(name, value, "a number >= 0")
    return float(value)


def check_fraction(name: str, value: Any, *, low: float = 0.0, high: float = 1.0,
                   closed_low: bool = False, closed_high: bool = False) -> float:
    """A number inside (low, high); ``closed_low``/``closed_high`` admit the ends."""
    inside = _is_number(value) and (low <= value if closed_low else low < value) and (
        value <= high if closed_high else value < high)
    if not inside:
        left, right = "[" if closed_low else "(", "]" if closed_high else ")"
        raise InvalidValue(name, value, f"a number in {left}{low:g}, {high:g}{right}")
    return float(value)


def check_int(name: str, value: Any, *, minimum: int = 1, allow_none: bool = False
              ) -> int | None:
    """An integer >= ``minimum`` (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidValue(name, value, f"an integer >= {minimum}"
                           + (" or null" if allow_none else ""))
    return value


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not a string or a number)."""
    if not isinstance(value, bool):
        raise InvalidValue(name, value, "true or false")
    return value
