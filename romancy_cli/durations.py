"""Durations as timedelta, seconds, or strings such as "90s", "5m", "1h30m", "2d"."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Union

from .errors import UsageError

Duration = Union[timedelta, int, float, str]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")

# 9999-12-31T23:59:59Z: the last second that datetime, and so RFC 3339 output, can show. No
# duration may reach past it from 1970, and no time computed from a duration either.
MAX_EPOCH = 253402300799.0
_PAST_9999 = "ends after the year 9999; give a shorter duration"
_FORMAT = ("invalid {what} {text!r}: use a number of seconds or units ms, s, m, h, d, w "
           "(e.g. 90s, 5m, 1h30m)")


def to_seconds(value: Duration, what: str = "duration") -> float:
    """Seconds in `value`; a bad value (not finite, negative, or longer than the calendar
    allows) raises UsageError naming it."""
    seconds = _seconds(value, what)
    if not math.isfinite(seconds):
        raise UsageError(f"invalid {what} {value!r}: must be a finite number of seconds")
    if seconds < 0:
        raise UsageError(f"invalid {what} {value!r}: must not be negative")
    if seconds > MAX_EPOCH:
        raise UsageError(f"invalid {what} {value!r}: {_PAST_9999}")
    return seconds


def deadline(now: float, value: Duration, what: str = "duration") -> float:
    """`now` plus the duration `value`, refused when that time is after the year 9999."""
    wake_at = now + to_seconds(value, what)
    if wake_at > MAX_EPOCH:
        raise UsageError(f"invalid {what} {value!r}: {_PAST_9999}")
    return wake_at


def _seconds(value: Duration, what: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        return _parse(value.strip(), what)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond a double
            return math.inf
    raise UsageError(f"invalid {what} {value!r}: use seconds or a string such as 90s, 5m, 1h30m")


def _parse(text: str, what: str) -> float:
    """ASCII only: float() and \\d also take other scripts' digits, such as full-width ones."""
    if not text.isascii():
        raise UsageError(_FORMAT.format(what=what, text=text))
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise UsageError(_FORMAT.format(what=what, text=text))
    return sum(float(n) * _UNITS[u] for n, u in parts)


def describe(seconds: float) -> str:
    """Short human form: 300 -> '5m', 5400 -> '1h30m'."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    rest = int(round(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            out += f"{count}{unit}"
    return out or "0s"
