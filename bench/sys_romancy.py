"""romancy_cli workloads: W1 start, W2 deliver, W3 timers, memory, write txns, HTTP ingest."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Optional

from romancy_cli import App, activity, sleep, wait_event, workflow

from .common import (DONE, EVENT_TYPE, SLEEP_SECONDS, WARMUP, memory_result, per_instance,
                     percentile, rss_bytes, timer_metrics, TxCounter, version_of, wait_until)
from .http_client import Connection

# Serve's timer loop naps at most this long (romancy_cli.serve.MAX_NAP); mirrored in drive_timers.
try:
    from romancy_cli.serve import MAX_NAP
except Exception:  # pragma: no cover - serve is optional for the core workloads
    MAX_NAP = 0.5


@activity("bench_begin")
def bench_begin(ctx: Any, order: int) -> dict:
    return {"order": order, "payment_id": f"PAY-{order}", "status": "pending"}


@activity("bench_done")
def bench_done(ctx: Any, key: str) -> float:
    return DONE.mark(key)


@workflow("bench_pay")
def bench_pay(ctx: Any, order: int) -> dict:
    """W1/W2/HTTP: one activity, wait for payment.completed addressed to it, record completion."""
    begun = bench_begin.execute(ctx, order)
    event = wait_event(ctx, EVENT_TYPE)
    bench_done.execute(ctx, ctx.instance_id)
    return {"begun": begun, "paid": event.data}


@workflow("bench_order")
def bench_order(ctx: Any, order: int) -> dict:
    """The issue's W1/W2 shape exactly (nothing after the wait): for counting write transactions."""
    begun = bench_begin.execute(ctx, order)
    return {"begun": begun, "paid": wait_event(ctx, EVENT_TYPE).data}


@workflow("bench_sleep")
def bench_sleep(ctx: Any, order: int) -> int:
    """W3: sleep 1 s durably, record completion."""
    sleep(ctx, SLEEP_SECONDS)
    bench_done.execute(ctx, ctx.instance_id)
    return order


@workflow("bench_slot")
def bench_slot(ctx: Any) -> None:
    """Schedules: one activity that records when the slot's run got there."""
    bench_done.execute(ctx, ctx.instance_id)


SCHEDULE_SLOTS = 5  # slots of an every="1s" schedule whose lateness is measured (5 s of wall time)


def version() -> str:
    return version_of("romancy-cli") or "dev"


class NoopHook:
    """Every hook method, doing nothing: BENCH_HOOK=noop measures what being told costs."""

    def _ignore(self, **fields: Any) -> None:
        pass

    on_workflow_start = on_workflow_end = on_activity_start = on_activity_end = _ignore
    on_event_received = on_timer_fired = on_outbox_sent = on_outbox_failed = on_commit = _ignore


def open_app(folder: str, name: str, mode: str) -> App:
    hooks = [NoopHook()] if os.environ.get("BENCH_HOOK") == "noop" else []
    return App(database=os.path.join(folder, name), worker_id="bench", synchronous=mode, hooks=hooks).initialize()


def _payload(i: int) -> dict:
    return {"order_id": f"ORD-{i}", "transaction_id": f"TXN-{i}", "amount": 99.99}


def warm_up(app: App) -> None:
    """Run the whole shape a few times so imports and caches are not timed."""
    ids = [app.start("bench_pay", -i - 1) for i in range(WARMUP)]
    for iid in ids:
        app.send_event(EVENT_TYPE, _payload(0), instance=iid)


def core(n: int, mode: str, folder: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    app = open_app(folder, "w12.db", mode)
    try:
        warm_up(app)
        gc.collect()
        # W1: start N; each runs its activity and waits.
        t0 = time.perf_counter()
        ids = [app.start("bench_pay", i) for i in range(n)]
        t1 = time.perf_counter()
        waiting = len(app.list_instances(status="waiting_for_event"))
        if waiting != n:
            raise RuntimeError(f"W1: {waiting} of {n} instances are waiting")
        out["w1_rate"] = n / (t1 - t0)
        # W2: one targeted event each; send_event resumes the instance inline.
        DONE.clear()
        t2 = time.perf_counter()
        for i, iid in enumerate(ids):
            app.send_event(EVENT_TYPE, _payload(i), instance=iid)
        t3 = time.perf_counter()
        if DONE.count(ids) != n:
            raise RuntimeError(f"W2: {DONE.count(ids)} of {n} instances completed")
        out["w2_rate"] = n / (t3 - t2)
    finally:
        app.shutdown()
    out.update(timers(n, mode, folder))
    out.update(schedule_lateness(mode, folder))
    return out


def drive_timers(app: App, stop: Any) -> float:
    """Serve's timer loop (tick, nap until the next due time, at most MAX_NAP); returns busy time."""
    busy = 0.0
    while not stop():
        t = time.perf_counter()
        result = app.tick()
        busy += time.perf_counter() - t
        if stop():
            break
        next_wake = result.next_wake
        nap = MAX_NAP if next_wake is None else min(MAX_NAP, max(0.0, next_wake - time.time()))
        if nap > 0:
            time.sleep(nap)
    return busy


def timers(n: int, mode: str, folder: str) -> dict[str, Any]:
    """W3: start N sleepers (1 s), then drive them with serve's timer loop."""
    app = open_app(folder, "w3.db", mode)
    try:
        warm = [app.start("bench_sleep", -1)]
        app.tick(advance=2 * SLEEP_SECONDS)
        assert app.get(warm[0]).status == "completed"
        DONE.clear()
        dues: dict[str, float] = {}
        for i in range(n):
            iid = app.start("bench_sleep", i)
            dues[iid] = time.time() + SLEEP_SECONDS  # upper bound of its due time (< 1 ms off)
        busy = drive_timers(app, lambda: DONE.count(dues) >= n)
        return timer_metrics(dues, dict(DONE.times), busy)
    finally:
        app.shutdown()


def schedule_lateness(mode: str, folder: str) -> dict[str, Any]:
    """Slots of an every="1s" schedule fired by serve's timer loop: how long after its slot each
    run reached its activity."""
    from romancy_cli.schedule_spec import slot_of

    app = open_app(folder, "sched.db", mode)
    try:
        DONE.clear()
        app.create_schedule("bench_every", "bench_slot", every="1s")
        drive_timers(app, lambda: DONE.count() >= SCHEDULE_SLOTS)
        late = [at - slot_of(key)[1].timestamp() for key, at in DONE.times.items()]  # type: ignore[index]
        return {"sched_late_p50_ms": percentile(late, 50) * 1000.0,  # type: ignore[operator]
                "sched_late_max_ms": max(late) * 1000.0}
    finally:
        app.shutdown()


def memory(n: int, mode: str, folder: str) -> dict[str, Any]:
    """RSS growth of this (fresh) process while it holds N waiting instances."""
    app = open_app(folder, "mem.db", mode)
    try:
        warm_up(app)
        gc.collect()
        before = rss_bytes()
        for i in range(n):
            app.start("bench_pay", i)
        gc.collect()
        after = rss_bytes()
        return memory_result(n, before, after)
    finally:
        app.shutdown()


def txcount(n: int, mode: str, folder: str) -> dict[str, Any]:
    counter = TxCounter()
    counter.install()
    app = open_app(folder, "tx.db", mode)
    try:
        warm_up(app)
        s0 = counter.snapshot()
        ids = [app.start("bench_order", i) for i in range(n)]
        s1 = counter.snapshot()
        for i, iid in enumerate(ids):
            app.send_event(EVENT_TYPE, _payload(i), instance=iid)
        s2 = counter.snapshot()
        start, deliver = per_instance(s0, s1, n), per_instance(s1, s2, n)
        # Schedules: the slots of n minutes, fired by one tick of time travel.
        app.create_schedule("bench_minutely", "bench_slot", every="1m")
        s3 = counter.snapshot()
        app.tick(advance=f"{n}m")
        s4 = counter.snapshot()
        slots = sum(1 for i in app.list_instances(workflow="bench_slot") if i.status == "completed")
        fired = per_instance(s3, s4, slots)
        return {"tx_start": start["write_txns"], "tx_start_begins": start["begins"],
                "tx_deliver": deliver["write_txns"], "tx_deliver_begins": deliver["begins"],
                "tx_slot": fired["write_txns"], "slots_fired": slots}
    finally:
        app.shutdown()


# -- HTTP ------------------------------------------------------------------------------

CLIENT_THREADS = 8


def _hammer(port: int, keys: list[str], call: Any,
            errors: Optional[list[str]] = None) -> dict[str, tuple[float, float]]:
    """CLIENT_THREADS threads, a keep-alive connection each, one call per key; key -> (sent, answered)."""
    times: dict[str, tuple[float, float]] = {}
    ready = threading.Barrier(CLIENT_THREADS + 1)

    def client(part: list[str]) -> None:
        connection = Connection("127.0.0.1", port)
        connection.request("GET", "/health/live")  # open the connection first
        ready.wait()
        for key in part:
            t0 = time.time()
            (status, body), expected = call(connection, key)
            t1 = time.time()
            if status != expected and errors is not None:
                errors.append(f"{status} {body[:200]!r}")
            times[key] = (t0, t1)
        connection.close()

    threads = [threading.Thread(target=client, args=(keys[k::CLIENT_THREADS],)) for k in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    ready.wait()
    for thread in threads:
        thread.join()
    return times


def http(n: int, mode: str, folder: str) -> dict[str, Any]:
    """Events/s and latencies against `romancy serve`'s Server in a subprocess (bench.http_server)."""
    done_file = os.path.join(folder, "done.log")
    env = dict(os.environ, BENCH_DONE_FILE=done_file)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.http_server", os.path.join(folder, "http.db"), str(n), mode],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"HTTP server did not start: {line!r}")
        _, port, id_file = line.split()
        with open(id_file) as handle:
            ids = handle.read().split()
        # The same clients against a route that touches no database: the ceiling of this
        # client + waitress on this machine, whatever the engine does.
        pings = _hammer(int(port), [f"ping-{i}" for i in range(n)], lambda connection, key: (
            connection.request("GET", "/health/live"), 200))
        headers = {"Content-Type": "application/cloudevents+json"}

        def post(connection: Connection, iid: str) -> tuple[tuple[int, bytes], int]:
            body = {"specversion": "1.0", "type": EVENT_TYPE, "source": "bench",
                    "id": uuid.uuid4().hex, "romancyinstanceid": iid, "data": _payload(0)}
            return connection.request("POST", "/", json.dumps(body).encode(), headers), 202

        errors: list[str] = []
        sent = _hammer(int(port), ids, post, errors)
        if errors:
            raise RuntimeError(f"{len(errors)} events not accepted, e.g. {errors[0]}")

        def completions() -> dict[str, float]:
            found: dict[str, float] = {}
            if os.path.exists(done_file):
                with open(done_file) as handle:
                    for row in handle:
                        key, _, at = row.strip().partition(" ")
                        if at and key in sent:
                            found[key] = float(at)
            return found

        if not wait_until(lambda: len(completions()) >= n, timeout=max(60.0, n / 50.0), interval=0.05):
            raise RuntimeError(f"HTTP: only {len(completions())} of {n} instances completed")
        done = completions()
        first_send = min(t0 for t0, _ in sent.values())
        last_ack = max(t1 for _, t1 in sent.values())
        acks = [(t1 - t0) * 1000.0 for t0, t1 in sent.values()]
        to_done = [(done[iid] - t1) * 1000.0 for iid, (_, t1) in sent.items()]
        ping_span = max(t1 for _, t1 in pings.values()) - min(t0 for t0, _ in pings.values())
        return {
            "http_ceiling_rate": n / ping_span,
            "http_rate": n / (last_ack - first_send),
            "http_202_p50_ms": percentile(acks, 50), "http_202_p99_ms": percentile(acks, 99),
            "http_done_p50_ms": percentile(to_done, 50), "http_done_p99_ms": percentile(to_done, 99),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
