"""A new instance is stored by its run's first commit: with its first steps, or alone just before
its first activity (so a killed start is still recovered)."""

from __future__ import annotations

from romancy_cli import App, sleep, wait_event, workflow

from test_engine_transactions import traced


@workflow("t_start_wait_first")
def wait_first(ctx, order: str) -> str:
    return wait_event(ctx, "t.start.go", match={"order": order}).data["order"]


@workflow("t_start_pure")
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


@workflow("t_start_racer")
def racer(ctx, database: str) -> str:
    if not RACE:  # another process starts the same id while this first run is still going
        RACE.append("raced")
        with App(database=database, worker_id="other") as other:
            other.start_instance("t_start_racer", [database], {}, instance_id="contested")
    sleep(ctx, "1h")
    return "mine"


def test_same_id_taken_during_the_first_run_returns_the_existing_instance(sqlite_app, sqlite_path):
    RACE.clear()
    instance_id, created = sqlite_app.start_instance("t_start_racer", [sqlite_path], {}, instance_id="contested")
    assert (instance_id, created) == ("contested", False)
    instance = sqlite_app.get("contested")  # the other start's instance, untouched by this one
    assert (instance.status, instance.lease_owner) == ("waiting_for_timer", None)
    assert sqlite_app.history("contested") == []
