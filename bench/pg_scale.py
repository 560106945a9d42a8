"""W1/W2/W3 on PostgreSQL with 1 and 3 worker processes sharing one database.

    python -m bench.pg_scale [-n 1000] [--workers 1,3] [--fast]

Starts a throwaway PostgreSQL cluster (tests/pgserver.py; needs the server binaries and psycopg),
durable by default (fsync on; `--fast` turns fsync and synchronous_commit off). Each worker is a
process with its own App; the work is split evenly between them.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from typing import Any, Callable

from romancy_cli import App, activity, sleep, wait_event, workflow

EVENT = "pg.paid"


@activity("pg_begin")
def pg_begin(ctx: Any, order: int) -> dict:
    return {"order": order, "status": "pending"}


@workflow("pg_pay")
def pg_pay(ctx: Any, order: int) -> dict:
    begun = pg_begin.execute(ctx, order)
    return {"begun": begun, "paid": wait_event(ctx, EVENT).data}


@workflow("pg_sleep")
def pg_sleep(ctx: Any, order: int, due: float) -> int:
    """Sleeps until `due` (epoch seconds): every instance falls due at the same moment."""
    sleep(ctx, max(0.0, due - ctx.now().timestamp()))
    return order


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def _in_workers(url: str, work: Callable[[App, list], None], shares: list[list]) -> float:
    """Run `work` on each share in its own process (forked, so the definitions are registered);
    seconds from the common start to the last finish."""
    start = mp.get_context("fork").Barrier(len(shares) + 1)
    procs = [mp.get_context("fork").Process(target=_worker, args=(url, work, share, start, i))
             for i, share in enumerate(shares)]
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a worker failed (exit {proc.exitcode})")
    return time.perf_counter() - began


def _worker(url: str, work: Callable[[App, list], None], share: list, start: Any, index: int) -> None:
    with App(url, worker_id=f"bench-{index}") as app:
        start.wait()
        work(app, share)


def _start_pay(app: App, orders: list) -> None:
    for order in orders:
        app.start("pg_pay", order, instance_id=f"pay-{order}")


def _deliver(app: App, orders: list) -> None:
    for order in orders:
        app.send_event(EVENT, {"order": order}, instance=f"pay-{order}", event_id=f"paid-{order}")


def _start_sleep(app: App, orders: list) -> None:
    for order, due in orders:
        app.start("pg_sleep", order, due, instance_id=f"sleep-{order}")


def _timer_loop(app: App, total: list) -> None:
    """Serve's timer loop, until every sleeper completed."""
    store = app.engine.store
    store.listen()
    while len(store.list_instances("completed", "pg_sleep", None)) < total[0]:
        wake = app.tick(retry_parked=False).next_wake
        nap = 0.05 if wake is None else min(0.05, max(0.0, wake - time.time()))
        store.wait_for_wake(nap)


def _count(url: str, status: str, workflow_name: str) -> list:
    with App(url) as app:
        return app.list_instances(status, workflow_name, None)


def run(url: str, n: int, workers: int) -> dict[str, float]:
    orders = list(range(n))
    w1 = _in_workers(url, _start_pay, _split(orders, workers))
    assert len(_count(url, "waiting_for_event", "pg_pay")) == n
    w2 = _in_workers(url, _deliver, _split(orders, workers))
    assert len(_count(url, "completed", "pg_pay")) == n
    due = time.time() + 1.0 + 2 * w1  # after every sleeper has started
    _in_workers(url, _start_sleep, _split([(order, due) for order in orders], workers))
    assert len(_count(url, "waiting_for_timer", "pg_sleep")) == n
    _in_workers(url, _timer_loop, [[n]] * workers)
    last_done = max(i.updated_at for i in _count(url, "completed", "pg_sleep"))
    return {"W1 starts/s": n / w1, "W2 completions/s": n / w2,
            "W3 completions/s": n / (last_done - due),
            "W3 last completion after due (ms)": (last_done - due) * 1000}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--workers", default="1,3")
    parser.add_argument("--fast", action="store_true", help="fsync and synchronous_commit off")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    import pgserver

    if not args.fast:
        pgserver._SETTINGS.update(fsync="on", synchronous_commit="on", full_page_writes="on")
    cluster = pgserver.PgCluster(pgserver.find_bindir()).start()
    databases = pgserver.Databases(cluster.admin_url)
    try:
        rows = {}
        for count in [int(w) for w in args.workers.split(",")]:
            url, drop = databases.create()
            rows[count] = run(url, args.n, count)
            drop()
        _print(rows, args)
    finally:
        cluster.stop()
    return 0


def _print(rows: dict[int, dict[str, float]], args: argparse.Namespace) -> None:
    durability = "fsync off" if args.fast else "fsync on, synchronous_commit on"
    print(f"PostgreSQL, N={args.n}, {durability}, {os.cpu_count()} CPUs")
    counts = sorted(rows)
    print("| workload | " + " | ".join(f"{c} worker{'s' if c > 1 else ''}" for c in counts) + " |")
    print("|---" * (len(counts) + 1) + "|")
    for key in rows[counts[0]]:
        print(f"| {key} | " + " | ".join(f"{rows[c][key]:,.0f}" if 'ms' not in key else f"{rows[c][key]:.1f}"
                                         for c in counts) + " |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
