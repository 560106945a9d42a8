"""A targeted event for a waiting instance is stored, satisfies the wait and records the run after
it in one transaction (engine.deliver_and_run); anything unexpected falls back to the ordinary path."""

from __future__ import annotations

from romancy_cli import Registry, activity, wait_event, workflow

from test_engine_transactions import traced

registry = Registry()  # this module's workflows, so their names need only be unique here

EFFECTS: list[str] = []


@activity("effect", registry=registry)
def effect(ctx, value: str) -> str:
    EFFECTS.append(value)
    return value


@workflow("pure", registry=registry)
def pure(ctx) -> dict:
    event = wait_event(ctx, "t.direct.go")
    return {"got": event.data}


@workflow("with_activity", registry=registry)
def with_activity(ctx) -> str:
    event = wait_event(ctx, "t.direct.go")
    return effect.execute(ctx, event.data["value"])


def _event_rows(sqlite_rows):
    return sqlite_rows("SELECT seq, event_id FROM romancy_events")


def test_targeted_event_and_completion_in_one_transaction(sqlite_app, sqlite_rows):
    instance_id = pure.start(sqlite_app)
    with traced(sqlite_app) as statements:
        sent = sqlite_app.send_event("t.direct.go", {"n": 1}, instance=instance_id, event_id="d1")
    assert (statements.begins, statements.commits) == (1, 1)
    assert sent.resumed == {instance_id: "completed"} and not sent.duplicate
    assert sqlite_app.get(instance_id).output == {"got": {"n": 1}}
    [(seq, event_id)] = _event_rows(sqlite_rows)
    [step] = sqlite_app.history(instance_id)
    assert (event_id, step.kind, step.result["seq"], step.result["id"]) == ("d1", "event", seq, "d1")


def test_run_reaching_an_activity_commits_the_event_before_it(sqlite_app):
    EFFECTS.clear()
    instance_id = with_activity.start(sqlite_app)
    with traced(sqlite_app) as statements:
        sent = sqlite_app.send_event("t.direct.go", {"value": "v"}, instance=instance_id)
    assert statements.commits == 2  # event + satisfied wait before the activity; then its result
    assert sent.resumed == {instance_id: "completed"} and EFFECTS == ["v"]
    assert [s.kind for s in sqlite_app.history(instance_id)] == ["event", "activity"]


def test_duplicate_targeted_event_is_applied_once(sqlite_app, sqlite_rows):
    EFFECTS.clear()
    first_id = with_activity.start(sqlite_app)
    second_id = with_activity.start(sqlite_app)
    sqlite_app.send_event("t.direct.go", {"value": "once"}, instance=first_id, source="s", event_id="same")
    again = sqlite_app.send_event("t.direct.go", {"value": "twice"}, instance=second_id, source="s", event_id="same")
    assert again.duplicate and again.resumed == {}
    assert EFFECTS == ["once"] and sqlite_app.get(second_id).status == "waiting_for_event"
    assert len(_event_rows(sqlite_rows)) == 1


def test_event_for_an_instance_that_no_longer_waits_is_stored_and_delivers_nothing(sqlite_app, sqlite_rows):
    instance_id = pure.start(sqlite_app)
    sqlite_app.cancel(instance_id)
    sent = sqlite_app.send_event("t.direct.go", {}, instance=instance_id, event_id="late")
    assert (sent.delivered, sent.resumed) == ((), {})
    assert [row[1] for row in _event_rows(sqlite_rows)] == ["late"]
    assert sqlite_app.get(instance_id).status == "cancelled"


def test_divergence_on_the_direct_path_parks_with_the_event_recorded(sqlite_app):
    instance_id = pure.start(sqlite_app)

    @workflow("pure", registry=registry)
    def changed(ctx) -> dict:
        effect.execute(ctx, "not in history")
        return {}

    try:
        sent = sqlite_app.send_event("t.direct.go", {}, instance=instance_id)
    finally:
        workflow("pure", registry=registry)(pure.fn)
    instance = sqlite_app.get(instance_id)
    assert sent.resumed == {instance_id: "parked"} and instance.parked
    assert [s.kind for s in sqlite_app.history(instance_id)] == ["event"]
    assert sqlite_app.tick().resumed == {instance_id: "completed"}


@workflow("matched", registry=registry)
def matched(ctx, order: str) -> str:
    return wait_event(ctx, "t.direct.order", match={"order": order}).data["order"]


def test_matched_event_for_one_of_many_orders_in_one_transaction(sqlite_app):
    ids = {order: matched.start(sqlite_app, order) for order in ("A", "B", "C")}
    with traced(sqlite_app) as statements:
        sent = sqlite_app.send_event("t.direct.order", {"order": "B"})
    assert statements.commits == 1 and sent.resumed == {ids["B"]: "completed"}
    assert [sqlite_app.get(ids[o]).status for o in "ABC"] == ["waiting_for_event", "completed", "waiting_for_event"]


def test_broadcast_to_several_instances_takes_the_ordinary_path(sqlite_app):
    ids = [pure.start(sqlite_app) for _ in range(2)]
    sent = sqlite_app.send_event("t.direct.go", {"all": True})
    assert sorted(sent.resumed) == sorted(ids) and set(sent.resumed.values()) == {"completed"}


def test_commit_refuses_a_pending_event_that_satisfies_others_too(sqlite_app, sqlite_rows):
    import pytest

    from romancy_cli.engine.ports import DeliveryConflict
    from romancy_cli.records import Commit, EventInput, PendingDelivery, Transition

    first, second = pure.start(sqlite_app), pure.start(sqlite_app)
    wait_seq = sqlite_app.get(first).wait.seq
    pending = PendingDelivery(EventInput("t.direct.go", "s", "both", {}), wait_seq, "t.direct.go")
    with pytest.raises(DeliveryConflict):
        sqlite_app.engine.store.commit(Commit(first, [], Transition("completed", output={}), delivery=pending),
                                       "me", 1.0, 31.0)
    assert _event_rows(sqlite_rows) == []
    assert {sqlite_app.get(i).status for i in (first, second)} == {"waiting_for_event"}
