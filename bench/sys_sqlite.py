"""The physical limit: raw sqlite3 write transactions/s, each one ~300-byte insert + one update."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

PAYLOAD = "x" * 300


def limit(n: int, mode: str, folder: str) -> dict[str, Any]:
    seconds = 1.0 if n >= 100 else 0.25  # a fixed time, not N: the number is a rate ceiling
    path = os.path.join(folder, f"raw-{mode}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(f"PRAGMA synchronous={mode}")
    conn.execute("CREATE TABLE steps (id INTEGER PRIMARY KEY, instance TEXT, result TEXT)")
    conn.execute("CREATE TABLE instances (id INTEGER PRIMARY KEY, status TEXT, updated REAL)")
    conn.executemany("INSERT INTO instances VALUES (?, 'waiting', 0)", [(i,) for i in range(1000)])
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while count < 200 or time.perf_counter() < deadline:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO steps (instance, result) VALUES (?, ?)", (f"inst-{count}", PAYLOAD))
        conn.execute("UPDATE instances SET status = 'running', updated = ? WHERE id = ?",
                     (time.time(), count % 1000))
        conn.execute("COMMIT")
        count += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return {"raw_rate": count / elapsed, "sqlite_version": sqlite3.sqlite_version}
