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


__all__ = ["SystemClock", "ManualClock", "timedelta"]
