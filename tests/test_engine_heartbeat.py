"""A run longer than its lease keeps the lease: another worker does not recover it meanwhile."""

from __future__ import annotations

import threading
import time

from romancy_cli import App, Registry, activity, workflow

registry = Registry()  # this module's workflows, so their names need only be unique here

RUNS: list[str] = []


@activity("slow", registry=registry)
def slow(ctx) -> str:
    RUNS.append(ctx.instance_id)
    time.sleep(2.5)
    return "done"


@workflow("long", registry=registry)
def long_run(ctx) -> str:
    return slow.execute(ctx)


def test_long_activity_lease_is_renewed_not_recovered(sqlite_path):
    with App(sqlite_path, worker_id="busy", lease_seconds=1.2, registry=registry) as busy, \
            App(sqlite_path, worker_id="other", lease_seconds=1.2, registry=registry) as other:
        started: list[str] = []
        runner = threading.Thread(target=lambda: started.append(long_run.start(busy)))
        runner.start()
        time.sleep(2.0)  # past the first lease's end: only renewals keep it
        assert other.tick().resumed == {}
        runner.join(timeout=30)
        instance = busy.get(started[0])
    assert (instance.status, instance.output) == ("completed", "done")
    assert RUNS == [started[0]]
