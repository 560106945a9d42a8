"""Shared helpers: clocks, percentiles, RSS, write-transaction counting, result hand-off.

Every measurement runs in a fresh subprocess (`python -m bench.worker ...`) that prints one
line `BENCH-RESULT {json}`; the parent (`python -m bench`) collects runs and prints the table.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from typing import Any, Callable, Optional

RESULT_PREFIX = "BENCH-RESULT "
EVENT_TYPE = "payment.completed"
SLEEP_SECONDS = 1.0
WARMUP = 10


def emit(result: dict[str, Any]) -> None:
    """Hand a worker's metrics to the parent process."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def percentile(values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[rank]


def rss_bytes() -> int:
    """Current resident set size (VmRSS) of this process."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, the best fallback


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.001) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class DoneLog:
    """Completion times written by each workflow's final activity/step: key -> time.time().

    In-process it is a dict; with BENCH_DONE_FILE set (HTTP server subprocess) each completion
    is also appended to that file as `key time` (one O_APPEND write, so lines never interleave)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._lock = threading.Lock()
        path = os.environ.get("BENCH_DONE_FILE")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None

    def mark(self, key: str) -> float:
        now = time.time()
        with self._lock:
            self.times[key] = now
        if self._fd is not None:
            os.write(self._fd, f"{key} {now!r}\n".encode())
        return now

    def count(self, keys: Any = None) -> int:
        if keys is None:
            return len(self.times)
        times = self.times
        return sum(1 for key in keys if key in times)

    def clear(self) -> None:
        with self._lock:
            self.times.clear()


DONE = DoneLog()


# -- write transactions --------------------------------------------------------------

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class TxCounter:
    """Counts write transactions on every sqlite3 connection opened after install().

    The trace callback sees what SQLite executes, including BEGINs issued implicitly by the
    sqlite3 module for SQLAlchemy. A transaction counts when it executed at least one write;
    a write outside any transaction (autocommit) counts as one transaction by itself."""

    def __init__(self) -> None:
        self.write_txns = 0
        self.begins = 0
        self.statements = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        original = sqlite3.connect
        counter = self

        def connect(*args: Any, **kwargs: Any) -> Any:
            conn = original(*args, **kwargs)
            conn.set_trace_callback(counter._tracer())
            return conn

        sqlite3.connect = connect  # type: ignore[assignment]
        sqlite3.dbapi2.connect = connect  # type: ignore[attr-defined]

    def _tracer(self) -> Callable[[str], None]:
        state = {"in_txn": False, "dirty": False}

        def trace(statement: str) -> None:
            verb = statement.lstrip()[:8].upper()
            with self._lock:
                self.statements += 1
                if verb.startswith("BEGIN"):
                    self.begins += 1
                    state["in_txn"], state["dirty"] = True, False
                elif verb.startswith(("COMMIT", "END", "ROLLBACK")):
                    if state["in_txn"] and state["dirty"] and not verb.startswith("ROLLBACK"):
                        self.write_txns += 1
                    state["in_txn"], state["dirty"] = False, False
                elif verb.startswith(_WRITE_VERBS):
                    if state["in_txn"]:
                        state["dirty"] = True
                    else:
                        self.write_txns += 1

        return trace

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.write_txns, self.begins


def memory_result(n: int, before: int, after: int) -> dict[str, Any]:
    """The memory row's fields from RSS before and after N instances were left waiting."""
    return {"mem_n": n, "mem_growth_bytes": after - before,
            "mem_per_10k_mib": (after - before) / n * 10_000 / 2**20}


def per_instance(before: tuple[int, int], after: tuple[int, int], n: int) -> dict[str, float]:
    return {"write_txns": (after[0] - before[0]) / n, "begins": (after[1] - before[1]) / n}


def timer_metrics(dues: dict[str, float], done: dict[str, float], busy: Optional[float]) -> dict[str, Any]:
    """W3 numbers from each instance's due time and completion time."""
    keys = [k for k in dues if k in done]
    n = len(keys)
    if n == 0:
        return {"w3_completed": 0}
    first_due = min(dues[k] for k in keys)
    last_due = max(dues[k] for k in keys)
    last_done = max(done[k] for k in keys)
    late = [done[k] - dues[k] for k in keys]
    window = max(last_done - first_due, 1e-9)
    return {
        "w3_completed": n,
        # Capacity of the timer driver (time spent inside tick); window rate when threads sleep.
        "w3_rate": n / busy if busy else n / window,
        "w3_rate_kind": "busy" if busy else "window",
        "w3_tail_ms": (last_done - last_due) * 1000.0,
        "w3_late_p50_ms": percentile(late, 50) * 1000.0,  # type: ignore[operator]
        "w3_late_p99_ms": percentile(late, 99) * 1000.0,  # type: ignore[operator]
    }


def version_of(distribution: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
