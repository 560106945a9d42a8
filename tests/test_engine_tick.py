"""What a frequent tick (serve's timer loop) costs when there is nothing to do, and that it leaves
parked instances alone until asked."""

from __future__ import annotations

import pytest

from romancy_cli import Registry, UsageError, activity, sleep, wait_event, workflow

from test_engine_transactions import traced

registry = Registry()  # this module's workflows, so their names need only be unique here


@activity("a", registry=registry)
def tick_a(ctx) -> str:
    return "a"


@activity("b", registry=registry)
def tick_b(ctx) -> str:
    return "b"


def _register(first):
    @workflow("parkable", registry=registry)
    def parkable(ctx) -> str:
        value = first.execute(ctx)
        wait_event(ctx, "t.tick.go")
        return value
    return parkable


@workflow("sleeper", registry=registry)
def sleeper(ctx) -> str:
    sleep(ctx, "1h")
    return "rested"


def test_tick_with_nothing_due_takes_no_write_transaction(sqlite_app):
    sleeper.start(sqlite_app)
    with traced(sqlite_app) as statements:
        result = sqlite_app.tick()
    assert (result.fired, result.resumed, statements.begins) == ([], {}, 0)
    assert result.next_wake is not None


def test_parked_instance_retried_only_when_asked(sqlite_app):
    instance_id = _register(tick_a).start(sqlite_app)
    _register(tick_b)
    sqlite_app.send_event("t.tick.go")
    assert sqlite_app.get(instance_id).parked

    with traced(sqlite_app) as statements:
        assert sqlite_app.tick(retry_parked=False).resumed == {}
    assert statements.begins == 0 and sqlite_app.get(instance_id).parked

    _register(tick_a)
    assert sqlite_app.tick(retry_parked=False).resumed == {}
    assert sqlite_app.tick().resumed == {instance_id: "completed"}
    assert sqlite_app.get(instance_id).output == "a"


@activity("stamp", registry=registry)
def stamp(ctx, when: str) -> str:
    STAMPS.append(when)
    return when


STAMPS: list[str] = []


@workflow("now_then_activity", registry=registry)
def now_then_activity(ctx) -> str:
    when = ctx.now().isoformat()
    return stamp.execute(ctx, when)


def test_values_recorded_before_an_activity_are_committed_before_it_runs(sqlite_app):
    with traced(sqlite_app) as statements:
        instance_id = now_then_activity.start(sqlite_app)
    # the new instance with its recorded now(), before the activity runs; its result with completion
    assert statements.commits == 2
    steps = sqlite_app.history(instance_id)
    assert [(s.kind, s.name) for s in steps] == [("now", "now"), ("activity", "stamp")]
    assert sqlite_app.get(instance_id).output == STAMPS[0]


def test_existing_id_under_another_workflow_is_refused(sqlite_app):
    sleeper.start(sqlite_app, instance_id="shared-id")
    with pytest.raises(UsageError, match="runs workflow 'sleeper'"):
        now_then_activity.start(sqlite_app, instance_id="shared-id")
    assert sqlite_app.get("shared-id").workflow == "sleeper"
