"""A new instance is stored by its run's first commit: with its first steps, including the result of
a quick first activity; alone, by the deadline thread (engine/deadlines.py), once its first activity has run for
hooks.GRACE; or alone when the run is interrupted during that activity (so a killed start is still
recovered)."""

from __future__ import annotations

import sqlite3
import time

from romancy_cli import App, Registry, activity, sleep, wait_event, workflow
from romancy_cli.engine.hooks import GRACE

from test_engine_transactions import traced

registry = Registry()  # this module's workflows, so their names need only be unique here


@workflow("wait_first", registry=registry)
def wait_first(ctx, order: str) -> str:
    return wait_event(ctx, "t.start.go", match={"order": order}).data["order"]


@workflow("pure", registry=registry)
def pure(ctx, n: int) -> int:
    return n * 2


def test_instance_waiting_first_is_created_with_its_wait_in_one_transaction(sqlite_app):
    with traced(sqlite_app) as statements:
        instance_id = wait_first.start(sqlite_app, "A")
    assert (statements.begins, statements.commits) == (1, 1)
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.wait.event_type, instance.lease_owner) == ("waiting_for_event", "t.start.go", None)
    assert sqlite_app.send_event("t.start.go", {"order": "A"}).resumed == {instance_id: "completed"}


def test_instance_finishing_at_once_is_created_completed_in_one_transaction(sqlite_app):
    with traced(sqlite_app) as statements:
        instance_id = pure.start(sqlite_app, 21)
    assert statements.commits == 1
    assert (sqlite_app.get(instance_id).status, sqlite_app.get(instance_id).output) == ("completed", 42)


RACE: list[str] = []


@workflow("racer", registry=registry)
def racer(ctx, database: str) -> str:
    if not RACE:  # another process starts the same id while this first run is still going
        RACE.append("raced")
        with App(database=database, worker_id="other", registry=registry) as other:
            other.start_instance("racer", [database], {}, instance_id="contested")
    sleep(ctx, "1h")
    return "mine"


def test_same_id_taken_during_the_first_run_returns_the_existing_instance(sqlite_app, sqlite_path):
    RACE.clear()
    instance_id, created = sqlite_app.start_instance("racer", [sqlite_path], {}, instance_id="contested")
    assert (instance_id, created) == ("contested", False)
    instance = sqlite_app.get("contested")  # the other start's instance, untouched by this one
    assert (instance.status, instance.lease_owner) == ("waiting_for_timer", None)
    assert sqlite_app.history("contested") == []


SEEN: list = []  # what the slow activity saw of its own instance, from another connection


def _rows(database: str) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT status, lease_owner FROM romancy_instances").fetchall()


@activity("slow_step", registry=registry)
def slow_step(ctx, database: str) -> str:
    SEEN.append(_rows(database))  # at once: nothing stored yet
    deadline = time.monotonic() + 10
    while not _rows(database) and time.monotonic() < deadline:
        time.sleep(0.005)
    SEEN.append(_rows(database))
    return "slow"


@workflow("slow_first", registry=registry)
def slow_first(ctx, database: str) -> str:
    return slow_step.execute(ctx, database) + wait_event(ctx, "t.start.go").type


def test_instance_whose_first_activity_runs_long_is_stored_while_it_runs(sqlite_app, sqlite_path):
    SEEN.clear()
    with traced(sqlite_app) as statements:
        began = time.monotonic()
        instance_id = slow_first.start(sqlite_app, sqlite_path)
        took = time.monotonic() - began
    assert took >= GRACE
    (status, owner), = SEEN[1]
    assert SEEN[0] == [] and status == "running" and owner.endswith(":test-worker")
    assert statements.commits == 1  # the result and the wait (the deadline thread used its own connection)
    assert sqlite_app.get(instance_id).status == "waiting_for_event"
    assert sqlite_app.send_event("t.start.go").resumed == {instance_id: "completed"}
    assert sqlite_app.get(instance_id).output == "slowt.start.go"


INTERRUPT: list = []


@activity("interrupted_step", registry=registry)
def interrupted_step(ctx) -> str:
    if INTERRUPT:
        INTERRUPT.clear()
        raise KeyboardInterrupt  # Ctrl-C, well within grace.GRACE
    return "ran"


@workflow("interrupted", registry=registry)
def interrupted(ctx) -> str:
    return interrupted_step.execute(ctx)


def test_start_interrupted_during_its_first_activity_is_stored_and_recovered(sqlite_app, manual_clock):
    INTERRUPT.append(True)
    try:
        interrupted.start(sqlite_app, instance_id="cut-short")
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt did not reach the caller")
    instance = sqlite_app.get("cut-short")
    assert (instance.status, instance.lease_owner.endswith(":test-worker")) == ("running", True)
    assert sqlite_app.history("cut-short") == []
    manual_clock.advance("1m")  # past the lease, which this (live) process still holds
    assert sqlite_app.tick().resumed == {"cut-short": "completed"}
    assert sqlite_app.get("cut-short").output == "ran"


@activity("slow_step_pg", registry=registry)
def slow_step_pg(ctx, url: str) -> bool:
    with App(database=url, worker_id="observer", registry=registry) as observer:
        deadline = time.monotonic() + 10
        while not observer.list_instances() and time.monotonic() < deadline:
            time.sleep(0.005)
        return [i.status for i in observer.list_instances()] == ["running"]


@workflow("slow_first_pg", registry=registry)
def slow_first_pg(ctx, url: str) -> bool:
    return slow_step_pg.execute(ctx, url)


def test_on_postgresql_a_slow_first_activity_sees_its_instance_stored_by_the_grace_thread(pg_url):
    with App(database=pg_url, worker_id="pg-starter", registry=registry) as app:
        instance_id = slow_first_pg.start(app, pg_url)
        assert (app.get(instance_id).status, app.get(instance_id).output) == ("completed", True)
