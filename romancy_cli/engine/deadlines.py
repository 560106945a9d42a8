"""One daemon thread per process that calls back when a time comes: the grace write of a new
instance whose first activity runs long (hooks.FirstWrite), and the lease renewals of long runs
(`renewing`). Callbacks run one after another in that thread and keep their own errors.

While entries come and go it polls every POLL seconds, so registering costs no wake-up (one per
start cost more than the commit it saves); after IDLE_POLLS polls with nothing registered it sleeps
until the next registration.
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

POLL = 0.025  # seconds: the resolution of every deadline
IDLE_POLLS = 40

Callback = Callable[[], Any]


@dataclass
class _Entry:
    due: float
    callback: Callback
    every: Optional[float]  # seconds between calls of a repeating entry


class Deadlines:
    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        self._registered = threading.Condition(self._lock)
        self._sleeping = False
        self._thread: Optional[threading.Thread] = None
        self._tokens = itertools.count(1)

    def after(self, delay: float, callback: Callback, every: Optional[float] = None) -> int:
        """Call `callback` in the deadline thread `delay` seconds from now (up to POLL later), and
        then every `every` seconds if given; returns a token for cancel()."""
        with self._lock:
            token = next(self._tokens)
            self._entries[token] = _Entry(time.monotonic() + delay, callback, every)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="romancy-deadlines", daemon=True)
                self._thread.start()
            elif self._sleeping:
                self._registered.notify()
        return token

    def cancel(self, token: int) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def _loop(self) -> None:
        quiet = 0  # polls in a row that found nothing registered
        while True:
            if quiet >= IDLE_POLLS:
                self._sleep_until_registered()
                quiet = 0
            time.sleep(POLL)
            with self._lock:
                quiet = 0 if self._entries else quiet + 1
                due = self._take_due(time.monotonic())
            for callback in due:
                try:
                    callback()
                except BaseException:  # noqa: BLE001 - each callback's owner sees its own failure
                    pass

    def _take_due(self, now: float) -> list[Callback]:
        due = []
        for token, entry in list(self._entries.items()):
            if entry.due <= now:
                due.append(entry.callback)
                if entry.every is None:
                    del self._entries[token]
                else:
                    entry.due = now + entry.every
        return due

    def _sleep_until_registered(self) -> None:
        with self._lock:
            self._sleeping = True
            while not self._entries:
                self._registered.wait()
            self._sleeping = False


DEADLINES = Deadlines()


@contextmanager
def renewing(lease_seconds: float, renew: Callback) -> Iterator[None]:
    """While the block runs, call `renew` every third of the lease, so that a slow activity is not
    recovered (and run twice) by another worker while this one is still busy with it. A failed
    renewal shows up as LeaseLost at the run's next commit."""
    interval = lease_seconds / 3
    token = DEADLINES.after(interval, renew, every=interval)
    try:
        yield
    finally:
        DEADLINES.cancel(token)
