"""Prune on a database of N ended instances: total time and the longest write transaction.

    python -m bench.prune [N]          (default 100000; a fresh SQLite file in a temp folder)

Each instance gets two steps (an activity and the event it consumed) and each event is
consumed, as after a day of payment workflows; the rows are written with executemany, which
is how long they took to make is not part of the measurement."""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from romancy_cli import App

DAY = 86400.0


def fill(path: str, count: int, ended_at: float) -> None:
    """`count` completed instances with two steps each and `count` consumed events."""
    App(path).initialize().shutdown()  # the current schema
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO romancy_events (seq, source, event_id, type, data, received_at) VALUES (?, 'bench', ?, "
            "'payment.completed', '{}', ?)", ((n + 1, f"e{n}", ended_at) for n in range(count)))
        conn.executemany(
            "INSERT INTO romancy_instances (instance_id, workflow, status, args, kwargs, output, created_at, "
            "updated_at, wait_attempt, event_floor, parked) VALUES (?, 'pay', 'completed', '[]', '{}', '{}', ?, ?, "
            "0, 0, 0)", ((f"pay-{n:08d}", ended_at - 60 + n * 1e-4, ended_at) for n in range(count)))
        conn.executemany(
            "INSERT INTO romancy_steps (instance_id, seq, kind, name, result) VALUES (?, ?, ?, ?, ?)",
            (row for n in range(count) for row in (
                (f"pay-{n:08d}", 0, "activity", "charge", '{"value": 1}'),
                (f"pay-{n:08d}", 1, "event", "payment.completed",
                 json.dumps({"seq": n + 1, "source": "bench", "id": f"e{n}"})))))
    conn.close()


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "prune.db")
        fill(path, count, time.time() - 31 * DAY)
        with App(path) as app:
            started = time.perf_counter()
            result = app.prune(time.time() - 30 * DAY, time.time() - 30 * DAY)
            total = time.perf_counter() - started
        print(f"{count} ended instances: removed {result.instances} instances, {result.steps} steps, "
              f"{result.events} events in {total:.2f} s; {result.transactions} transactions, "
              f"longest {result.longest_transaction * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
