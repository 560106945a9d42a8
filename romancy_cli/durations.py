"""Durations as timedelta, seconds, or strings such as "90s", "5m", "1h30m", "2d"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Union

from .errors import UsageError

Duration = Union[timedelta, int, float, str]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def to_seconds(value: Duration, what: str = "duration") -> float:
    """Seconds in `value`; a bad value raises UsageError naming it."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse(value.strip(), what)
    else:
        raise UsageError(f"invalid {what} {value!r}: use seconds or a string such as 90s, 5m, 1h30m")
    if seconds < 0 or seconds != seconds:
        raise UsageError(f"invalid {what} {value!r}: must not be negative")
    return seconds


def _parse(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise UsageError(
            f"invalid {what} {text!r}: use a number of seconds or units ms, s, m, h, d, w (e.g. 90s, 5m, 1h30m)"
        )
    return sum(float(n) * _UNITS[u] for n, u in parts)


def describe(seconds: float) -> str:
    """Short human form: 300 -> '5m', 5400 -> '1h30m'."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    rest = int(round(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            out += f"{count}{unit}"
    return out or "0s"
