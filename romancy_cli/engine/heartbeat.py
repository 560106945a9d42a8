"""Keeps the leases of long runs alive, so a slow activity is not recovered (and run twice) by
another worker while this one is still busy with it. One daemon thread per process."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Renew = Callable[[], Any]

_runs: dict[int, tuple[float, float, Renew]] = {}  # token -> (next renewal, interval, renew)
_lock = threading.Lock()
_thread: list[threading.Thread] = []
_tokens = iter(range(1, 1 << 62))
TICK = 0.5


@contextmanager
def kept_alive(lease_seconds: float, renew: Renew) -> Iterator[None]:
    """While the block runs, call `renew` every third of the lease (none for runs shorter than that)."""
    interval = max(lease_seconds / 3, TICK)
    with _lock:
        token = next(_tokens)
        _runs[token] = (time.monotonic() + interval, interval, renew)
        if not _thread:
            _thread.append(threading.Thread(target=_loop, name="romancy-heartbeat", daemon=True))
            _thread[0].start()
    try:
        yield
    finally:
        with _lock:
            _runs.pop(token, None)


def _loop() -> None:
    while True:
        time.sleep(TICK)
        now = time.monotonic()
        with _lock:
            due = [(token, entry) for token, entry in _runs.items() if entry[0] <= now]
            for token, (_, interval, renew) in due:
                _runs[token] = (now + interval, interval, renew)
        for _, (_, _, renew) in due:
            try:
                renew()
            except Exception:  # noqa: BLE001 - a failed renewal shows up as LeaseLost at commit
                pass
