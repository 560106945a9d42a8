"""Time for the engine: the system clock, or a manual one that tests and `tick --advance` move."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Union

from ..durations import Duration, to_seconds


class SystemClock:
    def now(self) -> float:
        return time.time()


class OffsetClock:
    """A clock `offset` seconds ahead of another; the offset moves (the database's virtual clock,
    which `tick --advance` moves and every command reads)."""

    def __init__(self, base: "SystemClock", offset: float = 0.0) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        return self.base.now() + self.offset


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


__all__ = ["SystemClock", "OffsetClock", "ManualClock", "timedelta"]
