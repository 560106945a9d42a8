"""Time for the engine: the system clock, or a manual one that tests and `tick --advance` move."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Union

from ..durations import Duration, to_seconds


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: Union[float, datetime, None] = None) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, by: Duration) -> float:
        with self._lock:
            self._now += to_seconds(by)
            return self._now

    def set(self, when: Union[float, datetime]) -> None:
        self._now = when.timestamp() if isinstance(when, datetime) else float(when)


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def in_range(epoch: float) -> bool:
    """True when `epoch` is a time datetime can show (years 1 to 9999; inputs are checked, but the
    database may hold anything another program wrote)."""
    try:
        to_datetime(epoch)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def iso(epoch: float | None) -> str | float | None:
    """RFC 3339 UTC with milliseconds, or None. A stored time outside years 1-9999 stays its
    epoch seconds, and NaN/Infinity becomes None: JSON output must neither fail nor lie."""
    if epoch is None or not math.isfinite(epoch):
        return None
    if not in_range(epoch):
        return epoch
    return to_datetime(epoch).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["SystemClock", "ManualClock", "to_datetime", "in_range", "iso", "timedelta"]
