"""Events: delivery, the start→wait race, duplicates, matching, targeting, timeouts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from romancy_cli import EventTimeout, Registry, decode_event_data, sleep, wait_event, workflow

registry = Registry()  # this module's workflows, so their names need only be unique here


@workflow("sleep_then_wait", registry=registry)
def sleep_then_wait(ctx, label: str) -> dict:
    sleep(ctx, "10s")  # the event is sent while the instance sleeps, before it reaches wait_event
    event = wait_event(ctx, "t.ev.ready")
    return {"label": label, "event": event.id, "data": event.data}


@workflow("wait", registry=registry)
def wait_once(ctx) -> str:
    return wait_event(ctx, "t.ev.once").id


@workflow("wait_twice", registry=registry)
def wait_twice(ctx) -> list:
    first = wait_event(ctx, "t.ev.twice")
    second = wait_event(ctx, "t.ev.twice")
    return [first.id, second.id]


@workflow("payment", registry=registry)
def payment(ctx, order_id: str) -> dict:
    event = wait_event(ctx, "t.ev.paid", match={"order_id": order_id})
    return event.data


@workflow("nested", registry=registry)
def nested(ctx, order_id: str, region: str) -> str:
    event = wait_event(ctx, "t.ev.shipped", match={"order.id": order_id, "order.address.region": region})
    return event.id


@workflow("timeout", registry=registry)
def with_timeout(ctx) -> str:
    try:
        event = wait_event(ctx, "t.ev.approved", timeout="30s")
    except EventTimeout:
        return "timed_out"
    return f"approved:{event.id}"


@dataclass
class Address:
    zip: str


@dataclass
class Customer:
    name: str
    address: Address


@dataclass
class Shipment:
    customer: Customer
    weight: float


@workflow("decode", registry=registry)
def decode(ctx) -> float:
    event = wait_event(ctx, "t.ev.shipment")
    return decode_event_data(event.data, Shipment).weight


def _instance(app, instance_id):
    return app.get(instance_id)


# -- delivery of events that arrive before the wait (the start→wait race) ------------------


def test_event_sent_before_wait_is_delivered_broadcast(sqlite_app):
    instance_id = sleep_then_wait.start(sqlite_app, "b")
    assert _instance(sqlite_app, instance_id).status == "waiting_for_timer"

    sent = sqlite_app.send_event("t.ev.ready", {"n": 1}, event_id="early")
    assert (sent.duplicate, sent.delivered) == (False, ())  # stored, nobody waits yet

    sqlite_app.tick(advance="10s")
    instance = _instance(sqlite_app, instance_id)
    assert instance.status == "completed"
    assert instance.output == {"label": "b", "event": "early", "data": {"n": 1}}


def test_event_sent_before_wait_is_delivered_targeted(sqlite_app):
    target = sleep_then_wait.start(sqlite_app, "target")
    bystander = sleep_then_wait.start(sqlite_app, "bystander")
    sqlite_app.send_event("t.ev.ready", {"n": 2}, event_id="for-target", instance=target)

    result = sqlite_app.tick(advance="10s")

    assert result.resumed == {target: "completed", bystander: "waiting_for_event"}
    assert _instance(sqlite_app, target).output["event"] == "for-target"
    assert _instance(sqlite_app, bystander).wait.event_type == "t.ev.ready"


def test_event_received_before_instance_started_is_not_delivered(sqlite_app):
    sqlite_app.send_event("t.ev.once", event_id="too-early")
    instance_id = wait_once.start(sqlite_app)
    assert _instance(sqlite_app, instance_id).status == "waiting_for_event"
    assert sqlite_app.tick().resumed == {}

    sqlite_app.send_event("t.ev.once", event_id="in-time")
    assert _instance(sqlite_app, instance_id).output == "in-time"


def test_wait_consumes_earliest_deliverable_event(sqlite_app):
    @workflow("sleep_wait_twice", registry=registry)
    def sleep_wait_twice(ctx) -> list:
        sleep(ctx, "10s")
        return [wait_event(ctx, "t.ev.twice").id, wait_event(ctx, "t.ev.twice").id]

    instance_id = sleep_wait_twice.start(sqlite_app)
    for event_id in ("e1", "e2", "e3"):
        sqlite_app.send_event("t.ev.twice", event_id=event_id)
    sqlite_app.tick(advance="10s")
    assert _instance(sqlite_app, instance_id).output == ["e1", "e2"]


def test_event_consumed_by_earlier_wait_is_not_reused(sqlite_app):
    instance_id = wait_twice.start(sqlite_app)
    sent = sqlite_app.send_event("t.ev.twice", event_id="only")
    assert sent.resumed == {instance_id: "waiting_for_event"}
    assert sqlite_app.tick().resumed == {}
    sqlite_app.send_event("t.ev.twice", event_id="next")
    assert _instance(sqlite_app, instance_id).output == ["only", "next"]


# -- duplicates --------------------------------------------------------------------------------


def test_duplicate_event_same_source_and_id_applied_once(sqlite_app, sqlite_rows):
    instance_id = wait_twice.start(sqlite_app)
    first = sqlite_app.send_event("t.ev.twice", source="svc", event_id="dup-1")
    again = sqlite_app.send_event("t.ev.twice", source="svc", event_id="dup-1")

    assert (first.duplicate, first.delivered) == (False, (instance_id,))
    assert (again.duplicate, again.delivered, again.resumed) == (True, (), {})
    assert _instance(sqlite_app, instance_id).status == "waiting_for_event"  # 2nd wait not fed by the copy
    assert sqlite_rows("SELECT count(*) FROM romancy_events") == [(1,)]

    other_source = sqlite_app.send_event("t.ev.twice", source="other-svc", event_id="dup-1")
    assert other_source.duplicate is False  # identity is (source, id), not id alone
    assert _instance(sqlite_app, instance_id).output == ["dup-1", "dup-1"]


# -- matching and targeting ---------------------------------------------------------------------


def test_concurrent_orders_correlated_by_match(sqlite_app):
    ids = {order: payment.start(sqlite_app, order) for order in ("A", "B", "C")}
    sent = sqlite_app.send_event("t.ev.paid", {"order_id": "B", "amount": 2.0})
    assert sent.resumed == {ids["B"]: "completed"}
    assert _instance(sqlite_app, ids["B"]).output == {"order_id": "B", "amount": 2.0}
    assert {_instance(sqlite_app, ids[o]).status for o in "AC"} == {"waiting_for_event"}

    assert sqlite_app.send_event("t.ev.paid", {"order_id": "Z"}).delivered == ()
    assert sqlite_app.send_event("t.ev.paid", {"amount": 1}).delivered == ()  # field missing


def test_match_with_dotted_paths(sqlite_app):
    eu = nested.start(sqlite_app, "N1", "eu")
    us = nested.start(sqlite_app, "N1", "us")
    sent = sqlite_app.send_event(
        "t.ev.shipped", {"order": {"id": "N1", "address": {"region": "us"}}}, event_id="to-us")
    assert sent.resumed == {us: "completed"}
    assert _instance(sqlite_app, eu).status == "waiting_for_event"
    assert sqlite_app.send_event("t.ev.shipped", {"order": {"id": "N1", "address": "eu"}}).delivered == ()


def test_broadcast_without_match_or_target_reaches_every_waiting_instance(sqlite_app):
    ids = [wait_once.start(sqlite_app) for _ in range(3)]
    sent = sqlite_app.send_event("t.ev.once", event_id="all")
    assert sorted(sent.delivered) == sorted(ids)
    assert {_instance(sqlite_app, i).output for i in ids} == {"all"}


def test_targeted_event_reaches_only_its_instance(sqlite_app):
    first, second = wait_once.start(sqlite_app), wait_once.start(sqlite_app)
    sent = sqlite_app.send_event("t.ev.once", event_id="p2p", instance=second)
    assert sent.resumed == {second: "completed"}
    assert _instance(sqlite_app, first).status == "waiting_for_event"


def test_other_event_types_do_not_match(sqlite_app):
    instance_id = wait_once.start(sqlite_app)
    assert sqlite_app.send_event("t.ev.other").delivered == ()
    assert _instance(sqlite_app, instance_id).status == "waiting_for_event"


# -- timeouts -----------------------------------------------------------------------------------


def test_event_timeout_caught_by_the_workflow(sqlite_app, manual_clock):
    start = manual_clock.now()
    instance_id = with_timeout.start(sqlite_app)
    instance = _instance(sqlite_app, instance_id)
    assert (instance.status, instance.wait.wake_at) == ("waiting_for_event", start + 30)

    manual_clock.advance("29s")
    assert sqlite_app.tick().fired == []
    manual_clock.advance("1s")
    assert sqlite_app.tick().resumed == {instance_id: "completed"}
    assert _instance(sqlite_app, instance_id).output == "timed_out"
    timeout_step = sqlite_app.history(instance_id)[0]
    assert (timeout_step.kind, timeout_step.result) == ("event", {"timeout": True, "at": start + 30})


def test_event_before_deadline_wins_and_timeout_never_fires(sqlite_app, manual_clock):
    instance_id = with_timeout.start(sqlite_app)
    sqlite_app.send_event("t.ev.approved", event_id="yes")
    result = sqlite_app.tick(advance="1h")
    assert (result.fired, result.resumed) == ([], {})
    assert _instance(sqlite_app, instance_id).output == "approved:yes"


def test_event_and_timeout_race_exactly_one_wins_event_first(sqlite_app, manual_clock, sqlite_rows):
    instance_id = with_timeout.start(sqlite_app)
    manual_clock.advance("31s")  # deadline passed, no tick has processed it yet
    sent = sqlite_app.send_event("t.ev.approved", event_id="late-but-first", resume=False)
    assert sent.delivered == (instance_id,)
    result = sqlite_app.tick()
    assert result.fired == []
    assert result.resumed == {instance_id: "completed"}
    assert _instance(sqlite_app, instance_id).output == "approved:late-but-first"
    assert sqlite_rows("SELECT count(*) FROM romancy_steps") == [(1,)]


def test_event_and_timeout_race_exactly_one_wins_timeout_first(sqlite_app, manual_clock, sqlite_rows):
    instance_id = with_timeout.start(sqlite_app)
    manual_clock.advance("31s")
    assert sqlite_app.tick().fired == [instance_id]
    sent = sqlite_app.send_event("t.ev.approved", event_id="too-late")
    assert sent.delivered == ()
    assert _instance(sqlite_app, instance_id).output == "timed_out"
    assert sqlite_rows("SELECT count(*) FROM romancy_steps") == [(1,)]


# -- typed event data ---------------------------------------------------------------------------


def test_decode_event_data_failure_fails_instance_with_field_path(sqlite_app):
    instance_id = decode.start(sqlite_app)
    sqlite_app.send_event("t.ev.shipment", {"customer": {"name": "Ann", "address": {"zip": 75001}},
                                            "weight": "heavy"})
    instance = _instance(sqlite_app, instance_id)
    assert instance.status == "failed"
    assert instance.error["type"] == "EventDataError"
    assert "customer.address.zip" in instance.error["message"]
    assert "weight" in instance.error["message"] and "got str" in instance.error["message"]


def test_decode_event_data_success(sqlite_app):
    instance_id = decode.start(sqlite_app)
    sqlite_app.send_event("t.ev.shipment", {"customer": {"name": "Ann", "address": {"zip": "75001"}},
                                            "weight": 2.5})
    assert _instance(sqlite_app, instance_id).output == 2.5


# -- transactional delivery --------------------------------------------------------------------


def test_delivery_is_transactional_event_step_and_status_together(sqlite_app, sqlite_rows):
    instance_id = wait_once.start(sqlite_app)
    sent = sqlite_app.send_event("t.ev.once", event_id="tx", resume=False)
    assert sent.delivered == (instance_id,) and sent.resumed == {}
    # Committed together: the stored event, the satisfied wait (as a step) and the runnable instance.
    assert sqlite_rows("SELECT event_id FROM romancy_events") == [("tx",)]
    assert sqlite_rows("SELECT kind, name FROM romancy_steps") == [("event", "t.ev.once")]
    assert sqlite_rows("SELECT status, wait_kind FROM romancy_instances") == [("running", None)]
    assert sqlite_app.tick().resumed == {instance_id: "completed"}


@pytest.mark.parametrize("bad", [{"weight": 1.0}, None, [1, 2]])
def test_decode_event_data_rejects_wrong_shapes(bad):
    from romancy_cli import EventDataError

    with pytest.raises(EventDataError, match="Shipment"):
        decode_event_data(bad, Shipment)


LATE_SENT: list[str] = []


@workflow("late", registry=registry)
def late(ctx, database: str) -> str:
    try:
        return wait_event(ctx, "t.ev.late").id
    finally:
        # Runs while the suspension unwinds: after the wait looked for events, before it is committed.
        if not LATE_SENT:
            LATE_SENT.append("sent")
            from romancy_cli import App

            with App(database=database, worker_id="sender", registry=registry) as sender:
                assert sender.send_event("t.ev.late", event_id="meanwhile").delivered == ()


def test_event_arriving_while_the_wait_is_being_committed_is_not_lost(sqlite_app, sqlite_path, sqlite_rows):
    LATE_SENT.clear()
    instance_id = late.start(sqlite_app, sqlite_path)
    assert sqlite_app.get(instance_id).output == "meanwhile"
    assert sqlite_rows("SELECT kind, name FROM romancy_steps") == [("event", "t.ev.late")]
