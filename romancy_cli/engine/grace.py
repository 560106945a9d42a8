"""Calls back once a side effect has lasted GRACE seconds, unless cancelled first.

A new instance waits for its first activity, to be stored together with the activity's result in
one transaction (not one before and one after); an activity still running after GRACE gets the
instance stored from here instead, so that a process killed during a long activity leaves it to be
recovered, as when it was stored first. One daemon thread per process: it looks every GRACE / 2
while registrations keep coming, and sleeps after ~1 s without any.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable

GRACE = 0.05  # seconds
# Polls finding nothing pending (~1 s) before the thread sleeps until the next registration. While
# it polls, registering costs no wake-up: one per start cost more than the commit it saves.
IDLE_POLLS = 40

_pending: dict[int, tuple[float, Callable[[], None]]] = {}  # token -> (due, callback)
_lock = threading.Lock()
_registered = threading.Condition(_lock)
_sleeping: list[bool] = [False]
_thread: list[threading.Thread] = []
_tokens = itertools.count(1)


def after_grace(callback: Callable[[], None]) -> int:
    """Call `callback` (in the grace thread) GRACE seconds from now, or up to GRACE / 2 later;
    returns a token for cancel()."""
    with _lock:
        token = next(_tokens)
        _pending[token] = (time.monotonic() + GRACE, callback)
        if not _thread:
            _thread.append(threading.Thread(target=_loop, name="romancy-grace", daemon=True))
            _thread[0].start()
        elif _sleeping[0]:
            _registered.notify()
    return token


def cancel(token: int) -> None:
    with _lock:
        _pending.pop(token, None)


def _loop() -> None:
    quiet = 0  # polls in a row that found nothing pending
    while True:
        if quiet >= IDLE_POLLS:
            _sleep_until_registered()
            quiet = 0
        time.sleep(GRACE / 2)
        with _lock:
            quiet = 0 if _pending else quiet + 1
            now = time.monotonic()
            callbacks = [_pending.pop(token)[1] for token, (at, _) in list(_pending.items()) if at <= now]
        for callback in callbacks:
            try:
                callback()
            except BaseException:  # noqa: BLE001 - callbacks keep their own errors for their run
                pass


def _sleep_until_registered() -> None:
    with _lock:
        _sleeping[0] = True
        while not _pending:
            _registered.wait()
        _sleeping[0] = False
