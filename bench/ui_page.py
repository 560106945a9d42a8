"""Server time of the web page's instances list at scale.

    python -m bench.ui_page [--instances 100000] [--runs 30]

Fills a temporary SQLite database with `--instances` instances (a mix of statuses, each with
two steps), then calls `romancy serve`'s WSGI application in this process, as waitress would,
for `GET /` (HTML, the newest page), the JSON poll of the page (`GET /instances` with counts, the
public route), an older page and a search. Prints the median and slowest milliseconds of each:
time spent in the server, no network.
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from romancy_cli import App
from romancy_cli.http.wsgi import WsgiApp

STATUSES = ["completed"] * 6 + ["waiting_for_event", "waiting_for_timer", "failed", "cancelled"]


def fill(path: Path, count: int) -> None:
    App(str(path)).initialize().shutdown()  # the current schema
    start = time.time() - count
    instances, steps = [], []
    for n in range(count):
        iid = f"bench_order-{n:08d}"
        status = STATUSES[n % len(STATUSES)]
        waiting = status == "waiting_for_event"
        instances.append((iid, "bench_order", status, json.dumps([f"ORD-{n}"]), "{}", start + n, start + n,
                          json.dumps({"ok": True}) if status == "completed" else None,
                          "event" if waiting else None, 1 if waiting else None,
                          "payment.completed" if waiting else None, 0, 0, False))
        steps.append((iid, 0, "activity", "reserve", json.dumps({"value": {"order_id": f"ORD-{n}"}})))
        steps.append((iid, 1, "event", "payment.completed", json.dumps({"seq": n, "type": "payment.completed"})))
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO romancy_instances (instance_id, workflow, status, args, kwargs, created_at, updated_at, "
            "output, wait_kind, wait_seq, wait_event_type, wait_attempt, event_floor, parked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", instances)
        conn.executemany("INSERT INTO romancy_steps VALUES (?, ?, ?, ?, ?)", steps)


def call(wsgi: WsgiApp, path: str, query: str = "", accept: str = "text/html") -> float:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
                               "HTTP_ACCEPT": accept, "wsgi.input": io.BytesIO(), "HTTP_HOST": "127.0.0.1"}
    began = time.perf_counter()
    body = b"".join(wsgi(environ, lambda status, headers: None))
    elapsed = (time.perf_counter() - began) * 1000
    assert b"bench_order-" in body, body[:300]
    return elapsed


def measure(wsgi: WsgiApp, runs: int, path: str, query: str = "", accept: str = "text/html") -> tuple[float, float]:
    call(wsgi, path, query, accept)  # templates compiled, caches warm
    times = [call(wsgi, path, query, accept) for _ in range(runs)]
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ui.db"
        fill(path, options.instances)
        with App(str(path)) as app:
            wsgi = WsgiApp(app)
            older = json.loads(b"".join(wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/instances",
                                              "QUERY_STRING": "limit=50", "wsgi.input": io.BytesIO()},
                                             lambda *_: None)))["next"]
            cases = [("GET / (HTML, newest 50)", "/", "", "text/html"),
                     ("GET / status=failed", "/", "status=failed", "text/html"),
                     ("GET /instances (the page's poll)", "/instances", "limit=50&counts=true", "application/json"),
                     ("GET / older page", "/", f"after={older}", "text/html"),
                     ("GET / q=bench_order-0009", "/", "q=bench_order-0009", "text/html")]
            print(f"{options.instances:,} instances, {options.runs} runs each (server time, ms)")
            for label, route, query, accept in cases:
                median, slowest = measure(wsgi, options.runs, route, query, accept)
                print(f"  {label:<32} median {median:6.1f}   slowest {slowest:6.1f}")


if __name__ == "__main__":
    main()
