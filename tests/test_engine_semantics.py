"""Durable execution semantics (README "Writing workflows"): one test (or a few) per rule, on a real SQLite file."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

import pytest

from romancy_cli import (ActivityError, App, EventTimeout, Registry, RetryPolicy, activity, sleep,
                         wait_event, workflow)
from romancy_cli.errors import RomancyError

registry = Registry()  # this module's workflows, so their names need only be unique here

CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


# -- workflows ---------------------------------------------------------------------


@activity("charge", registry=registry)
def charge(ctx, order_id: str) -> str:
    CALLS.append(f"charge:{order_id}")
    return f"CH-{order_id}"


@activity("ship", registry=registry)
def ship(ctx, order_id: str) -> str:
    CALLS.append(f"ship:{order_id}")
    return f"SH-{order_id}"


@workflow("order", registry=registry)
def order(ctx, order_id: str) -> dict:
    charged = charge.execute(ctx, order_id)
    event = wait_event(ctx, "t.sem.go", match={"order_id": order_id})
    shipped = ship.execute(ctx, order_id)
    return {"charged": charged, "shipped": shipped, "event": event.id}


@workflow("explodes", registry=registry)
def explodes(ctx, order_id: str) -> str:
    charge.execute(ctx, order_id)
    raise ValueError(f"no stock for {order_id}")


@workflow("swallow", registry=registry)
def swallow(ctx) -> str:
    try:
        wait_event(ctx, "t.sem.never")
    except Exception:  # noqa: BLE001 - the point of the test
        return "swallowed the wait"
    return "got the event"


@workflow("swallow_sleep", registry=registry)
def swallow_sleep(ctx) -> str:
    try:
        sleep(ctx, "1h")
    except Exception:  # noqa: BLE001
        return "swallowed the sleep"
    return "slept"


@workflow("clock", registry=registry)
def clock_workflow(ctx) -> list:
    moment = ctx.now()
    ident = ctx.uuid4()
    CALLS.append(f"{moment.isoformat()}|{ident}|{ctx.is_replaying}")
    wait_event(ctx, "t.sem.clock")
    later = ctx.now()
    return [moment.isoformat(), str(ident), later.isoformat()]


def _status(app: App, instance_id: str) -> str:
    return app.get(instance_id).status


# -- replay: activities run once, results come from history --------------------------


def test_replay_activity_executed_once_across_suspend_and_resume(sqlite_app, sqlite_rows):
    instance_id = order.start(sqlite_app, "O1")
    assert _status(sqlite_app, instance_id) == "waiting_for_event"
    assert CALLS == ["charge:O1"]

    sent = sqlite_app.send_event("t.sem.go", {"order_id": "O1"}, event_id="go-1")

    assert sent.resumed == {instance_id: "completed"}
    assert CALLS == ["charge:O1", "ship:O1"]  # the replay took charge's result from history
    instance = sqlite_app.get(instance_id)
    assert instance.output == {"charged": "CH-O1", "shipped": "SH-O1", "event": "go-1"}
    steps = sqlite_rows("SELECT seq, kind, name FROM romancy_steps WHERE instance_id = ? ORDER BY seq", instance_id)
    assert steps == [(0, "activity", "charge"), (1, "event", "t.sem.go"), (2, "activity", "ship")]


def test_recorded_step_result_is_returned_without_executing(sqlite_app):
    instance_id = order.start(sqlite_app, "O2")
    history = sqlite_app.history(instance_id)
    assert [(s.kind, s.name, s.result) for s in history] == [("activity", "charge", {"value": "CH-O2"})]
    sqlite_app.send_event("t.sem.go", {"order_id": "O2"})
    assert CALLS.count("charge:O2") == 1


# -- suspension releases the process -------------------------------------------------


def test_suspension_releases_the_process(sqlite_path, manual_clock, sqlite_rows):
    with App(database=sqlite_path, worker_id="first", clock=manual_clock, registry=registry) as first:
        instance_id = order.start(first, "O3")
    # Nothing is left in the first process: a second App alone continues the instance.
    row = sqlite_rows("SELECT status, wait_kind, wait_event_type, wait_match, lease_owner FROM romancy_instances")
    assert row == [("waiting_for_event", "event", "t.sem.go", '{"order_id":"O3"}', None)]
    with App(database=sqlite_path, worker_id="second", clock=manual_clock, registry=registry) as second:
        sent = second.send_event("t.sem.go", {"order_id": "O3"})
        assert sent.resumed == {instance_id: "completed"}
    assert CALLS == ["charge:O3", "ship:O3"]


# -- statuses, failures ---------------------------------------------------------------


def test_statuses_running_waiting_completed(sqlite_app):
    instance_id = order.start(sqlite_app, "O4")
    assert _status(sqlite_app, instance_id) == "waiting_for_event"
    sqlite_app.send_event("t.sem.go", {"order_id": "O4"})
    assert _status(sqlite_app, instance_id) == "completed"


def test_workflow_exception_fails_with_type_message_traceback(sqlite_app):
    instance_id = explodes.start(sqlite_app, "O5")
    instance = sqlite_app.get(instance_id)
    assert instance.status == "failed"
    assert instance.error["type"] == "ValueError"
    assert instance.error["message"] == "no stock for O5"
    assert "Traceback" in instance.error["traceback"] and "explodes" in instance.error["traceback"]
    assert instance.output is None
    # The activity result before the failure is kept in history.
    assert [s.kind for s in sqlite_app.history(instance_id)] == ["activity"]


def test_failed_instance_is_not_resumed_by_tick(sqlite_app):
    instance_id = explodes.start(sqlite_app, "O6")
    result = sqlite_app.tick()
    assert instance_id not in result.resumed
    assert CALLS == ["charge:O6"]


# -- suspension cannot be swallowed -------------------------------------------------------


def test_except_exception_cannot_swallow_wait_event(sqlite_app):
    instance_id = swallow.start(sqlite_app)
    assert _status(sqlite_app, instance_id) == "waiting_for_event"
    sqlite_app.send_event("t.sem.never")
    assert sqlite_app.get(instance_id).output == "got the event"


def test_except_exception_cannot_swallow_sleep(sqlite_app):
    instance_id = swallow_sleep.start(sqlite_app)
    assert _status(sqlite_app, instance_id) == "waiting_for_timer"
    sqlite_app.tick(advance="1h")
    assert sqlite_app.get(instance_id).output == "slept"


# -- instance ids ------------------------------------------------------------------------


def test_idempotent_start_by_instance_id(sqlite_app, sqlite_rows):
    first = sqlite_app.start_instance("order", ["O7"], {}, instance_id="order-O7")
    again = sqlite_app.start_instance("order", ["other"], {}, instance_id="order-O7")
    assert first == ("order-O7", True)
    assert again == ("order-O7", False)
    assert order.start(sqlite_app, "O7", instance_id="order-O7") == "order-O7"
    assert CALLS == ["charge:O7"]
    assert sqlite_rows("SELECT instance_id, args FROM romancy_instances") == [("order-O7", '["O7"]')]


def test_generated_instance_ids_are_prefixed_and_sort_by_creation(sqlite_app):
    ids = [order.start(sqlite_app, f"S{i}") for i in range(5)]
    assert all(i.startswith("order-") for i in ids)
    assert sorted(ids) == ids and len(set(ids)) == 5


# -- non-determinism ------------------------------------------------------------------------


@activity("nd_a", registry=registry)
def nd_a(ctx) -> str:
    CALLS.append("a")
    return "a"


@activity("nd_b", registry=registry)
def nd_b(ctx) -> str:
    CALLS.append("b")
    return "b"


def _register_nd(first):
    @workflow("nondeterministic", registry=registry)
    def nondeterministic(ctx) -> str:
        value = first.execute(ctx)
        wait_event(ctx, "t.sem.nd")
        return value
    return nondeterministic


def test_non_determinism_parked_then_resumed_after_fix(sqlite_app):
    original = _register_nd(nd_a)
    instance_id = original.start(sqlite_app)
    assert _status(sqlite_app, instance_id) == "waiting_for_event"

    _register_nd(nd_b)  # a deploy that changes the code under a waiting instance
    sent = sqlite_app.send_event("t.sem.nd")
    instance = sqlite_app.get(instance_id)
    assert sent.resumed == {instance_id: "parked"}
    assert (instance.status, instance.parked) == ("running", True)
    assert instance.error["type"] == "NonDeterminismError"
    assert "'nd_a'" in instance.error["message"] and "'nd_b'" in instance.error["message"]
    assert [s.kind for s in sqlite_app.history(instance_id)] == ["activity", "event"]  # not corrupted

    assert sqlite_app.tick().resumed == {instance_id: "parked"}  # still broken: stays parked
    assert sqlite_app.get(instance_id).parked

    _register_nd(nd_a)  # the fix (a revert) under the same name
    assert sqlite_app.tick().resumed == {instance_id: "completed"}
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.output, instance.error, instance.parked) == ("completed", "a", None, False)
    assert CALLS == ["a"]  # neither version re-ran a recorded activity


def test_non_determinism_when_code_returns_before_recorded_steps(sqlite_app):
    @workflow("shrinks", registry=registry)
    def shrinks(ctx) -> str:
        nd_a.execute(ctx)
        sleep(ctx, "10s")
        return "long"

    instance_id = shrinks.start(sqlite_app)

    @workflow("shrinks", registry=registry)
    def shrunk(ctx) -> str:
        return "short"

    sqlite_app.tick(advance="10s")
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.parked) == ("running", True)
    assert "returns before calling it" in instance.error["message"]


# -- async ----------------------------------------------------------------------------------


@activity("async_double", registry=registry)
async def async_double(ctx, value: int) -> int:
    await asyncio.sleep(0)
    CALLS.append(f"double:{value}:{ctx.attempt}")
    return value * 2


@workflow("async", registry=registry)
async def async_workflow(ctx, value: int) -> dict:
    doubled = await async_double.execute(ctx, value)
    event = await wait_event(ctx, "t.sem.async", match={"value": value})
    await sleep(ctx, "5m")
    both = await asyncio.gather(async_double.execute(ctx, doubled), async_double.execute(ctx, event.data["extra"]))
    return {"doubled": doubled, "both": list(both)}


@workflow("sync_calls_async", registry=registry)
def sync_calls_async(ctx, value: int) -> int:
    return async_double.execute(ctx, value)


def test_async_workflows_and_async_activities(sqlite_app):
    instance_id = async_workflow.start(sqlite_app, 3)
    assert _status(sqlite_app, instance_id) == "waiting_for_event"
    sqlite_app.send_event("t.sem.async", {"value": 3, "extra": 10})
    assert _status(sqlite_app, instance_id) == "waiting_for_timer"
    sqlite_app.tick(advance="5m")
    instance = sqlite_app.get(instance_id)
    assert instance.status == "completed"
    assert instance.output == {"doubled": 6, "both": [12, 20]}
    assert sorted(CALLS) == ["double:10:1", "double:3:1", "double:6:1"]
    assert [s.seq for s in sqlite_app.history(instance_id)] == [0, 1, 2, 3, 4]


def test_sync_workflow_may_call_async_activity(sqlite_app):
    instance_id = sync_calls_async.start(sqlite_app, 4)
    assert sqlite_app.get(instance_id).output == 8


# -- typed inputs and results ---------------------------------------------------------------


@dataclass
class LineItem:
    sku: str
    quantity: int


@dataclass
class OrderIn:
    order_id: str
    items: list[LineItem]


class Options(TypedDict):
    express: bool
    note: str


@dataclass
class Quote:
    total: float
    currency: str


@activity("quote", registry=registry)
def quote(ctx, order_in: OrderIn) -> Quote:
    CALLS.append(f"quote:{type(order_in).__name__}")
    return Quote(total=sum(i.quantity for i in order_in.items) * 2.5, currency="EUR")


@workflow("typed", registry=registry)
def typed_workflow(ctx, order_in: OrderIn, options: Options) -> Quote:
    price = quote.execute(ctx, order_in)
    CALLS.append(f"types:{type(order_in).__name__}:{type(order_in.items[0]).__name__}:"
                 f"{type(options).__name__}:{type(price).__name__}")
    wait_event(ctx, "t.sem.typed")
    return Quote(total=price.total + (5.0 if options["express"] else 0.0), currency=price.currency)


def test_dataclass_and_typeddict_round_trip_through_history(sqlite_app, sqlite_rows):
    order_in = OrderIn("T1", [LineItem("apple", 2), LineItem("pear", 1)])
    instance_id = typed_workflow.start(sqlite_app, order_in, Options(express=True, note="ring"))
    stored_args, = sqlite_rows("SELECT args FROM romancy_instances WHERE instance_id = ?", instance_id)[0]
    assert '"sku":"apple"' in stored_args  # stored as plain JSON, never pickled
    assert sqlite_app.history(instance_id)[0].result == {"value": {"total": 7.5, "currency": "EUR"}}

    sqlite_app.send_event("t.sem.typed")  # replay: input and activity result converted again

    assert sqlite_app.get(instance_id).output == {"total": 12.5, "currency": "EUR"}
    assert CALLS == ["quote:OrderIn", "types:OrderIn:LineItem:dict:Quote", "types:OrderIn:LineItem:dict:Quote"]


# -- retries ----------------------------------------------------------------------------------


class Flaky(Exception):
    pass


FLAKY_ATTEMPTS: list[tuple[int, str]] = []


@activity("flaky", retry=RetryPolicy(max_attempts=3, initial_interval="10s", backoff=2.0), registry=registry)
def flaky(ctx, succeed_on: int) -> str:
    FLAKY_ATTEMPTS.append((ctx.attempt, ctx.idempotency_key))
    if ctx.attempt < succeed_on:
        raise Flaky(f"attempt {ctx.attempt} failed")
    return f"ok on {ctx.attempt}"


@workflow("retrying", registry=registry)
def retrying(ctx, succeed_on: int) -> str:
    return flaky.execute(ctx, succeed_on)


@workflow("retrying_caught", registry=registry)
def retrying_caught(ctx, succeed_on: int) -> dict:
    try:
        return {"value": flaky.execute(ctx, succeed_on)}
    except ActivityError as exc:
        return {"activity": exc.activity, "type": exc.error_type, "attempts": exc.attempts}


@pytest.fixture
def attempts():
    FLAKY_ATTEMPTS.clear()
    yield FLAKY_ATTEMPTS
    FLAKY_ATTEMPTS.clear()


def test_retry_backoff_is_a_durable_timer(sqlite_app, manual_clock, attempts):
    start = manual_clock.now()
    instance_id = retrying.start(sqlite_app, 3)
    instance = sqlite_app.get(instance_id)
    assert instance.status == "waiting_for_timer"
    assert (instance.wait.kind, instance.wait.attempt, instance.wait.wake_at) == ("retry", 1, start + 10)

    assert sqlite_app.tick(now=start + 9.9).resumed == {}  # not due yet: nothing runs, nothing blocks
    assert sqlite_app.tick(now=start + 10).resumed == {instance_id: "waiting_for_timer"}
    assert sqlite_app.get(instance_id).wait.wake_at == start + 10 + 20  # backoff 2x

    assert sqlite_app.tick(now=start + 30).resumed == {instance_id: "completed"}
    assert sqlite_app.get(instance_id).output == "ok on 3"
    assert [a for a, _ in attempts] == [1, 2, 3]
    assert len({key for _, key in attempts}) == 1  # idempotency key stable across attempts
    # the failed attempts are shown before the step's result, kept beside what replay reads
    assert [s.kind for s in sqlite_app.history(instance_id)] == ["attempt", "attempt", "activity"]


def test_activity_error_when_attempts_exhausted(sqlite_app, manual_clock, attempts):
    start = manual_clock.now()
    instance_id = retrying.start(sqlite_app, 99)
    sqlite_app.tick(now=start + 10)
    sqlite_app.tick(now=start + 30)
    instance = sqlite_app.get(instance_id)
    assert instance.status == "failed"
    assert instance.error["type"] == "ActivityError"
    assert "'flaky' failed after 3 attempts: Flaky: attempt 3 failed" in instance.error["message"]
    assert len(attempts) == 3
    recorded = sqlite_app.history(instance_id)[-1].result["error"]
    assert (recorded["type"], recorded["attempts"]) == ("Flaky", 3)


def test_activity_error_can_be_caught_by_the_workflow(sqlite_app, manual_clock, attempts):
    start = manual_clock.now()
    instance_id = retrying_caught.start(sqlite_app, 99)
    sqlite_app.tick(now=start + 10)
    sqlite_app.tick(now=start + 30)
    assert sqlite_app.get(instance_id).output == {"activity": "flaky", "type": "Flaky", "attempts": 3}


@activity("refused", retry=RetryPolicy(max_attempts=5, non_retryable=(PermissionError,)), registry=registry)
def refused(ctx) -> str:
    CALLS.append(f"refused:{ctx.attempt}")
    raise PermissionError("card declined")


@workflow("non_retryable", registry=registry)
def non_retryable(ctx) -> dict:
    try:
        return {"value": refused.execute(ctx)}
    except ActivityError as exc:
        return {"type": exc.error_type, "message": exc.error_message, "attempts": exc.attempts}


def test_non_retryable_error_is_not_retried(sqlite_app):
    instance_id = non_retryable.start(sqlite_app)
    instance = sqlite_app.get(instance_id)
    assert instance.status == "completed"
    assert instance.output == {"type": "PermissionError", "message": "card declined", "attempts": 1}
    assert CALLS == ["refused:1"]


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_waiting_instance(sqlite_app):
    instance_id = order.start(sqlite_app, "C1")
    cancelled = sqlite_app.cancel(instance_id, reason="customer changed their mind")
    assert cancelled.status == "cancelled"
    assert cancelled.error == {"type": "Cancelled", "message": "customer changed their mind"}
    assert sqlite_app.send_event("t.sem.go", {"order_id": "C1"}).delivered == ()
    assert sqlite_app.tick().resumed == {}
    assert _status(sqlite_app, instance_id) == "cancelled"
    assert CALLS == ["charge:C1"]
    with pytest.raises(RomancyError, match="already cancelled"):
        sqlite_app.cancel(instance_id)


def test_cancel_sleeping_instance_never_fires(sqlite_app):
    instance_id = swallow_sleep.start(sqlite_app)
    sqlite_app.cancel(instance_id)
    result = sqlite_app.tick(advance="2h")
    assert (result.fired, result.resumed) == ([], {})
    assert _status(sqlite_app, instance_id) == "cancelled"


@activity("cancel_self", registry=registry)
def cancel_self(ctx, database: str) -> str:
    CALLS.append("cancel_self")
    with App(database=database, worker_id="operator", registry=registry) as operator:
        # A new instance becomes visible once its first activity has run for grace.GRACE.
        deadline = time.monotonic() + 10
        while not operator.list_instances() and time.monotonic() < deadline:
            time.sleep(0.005)
        operator.cancel(ctx.instance_id, "stopped mid-run")
    return "done"


@workflow("cancelled_mid_run", registry=registry)
def cancelled_mid_run(ctx, database: str) -> str:
    cancel_self.execute(ctx, database)
    ship.execute(ctx, "never")  # the flush before this side effect finds the instance cancelled
    return "finished"


def test_cancel_during_a_run_stops_before_the_next_side_effect(sqlite_app, sqlite_path):
    instance_id = cancelled_mid_run.start(sqlite_app, sqlite_path)
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.error["message"]) == ("cancelled", "stopped mid-run")
    assert CALLS == ["cancel_self"]
    assert sqlite_app.history(instance_id) == []


# -- deterministic helpers ----------------------------------------------------------------------


def test_now_and_uuid4_deterministic_across_replay(sqlite_app, manual_clock):
    started = manual_clock.now()
    instance_id = clock_workflow.start(sqlite_app)
    manual_clock.advance("3h")
    sqlite_app.send_event("t.sem.clock")
    first, second = CALLS
    assert first.rsplit("|", 1)[0] == second.rsplit("|", 1)[0]  # same time and uuid on replay
    assert (first.endswith("|False"), second.endswith("|True")) == (True, True)
    moment, ident, later = sqlite_app.get(instance_id).output
    assert moment == datetime.fromtimestamp(started, timezone.utc).isoformat()
    assert later == datetime.fromtimestamp(started + 3 * 3600, timezone.utc).isoformat()
    assert uuid.UUID(ident).version == 4
    kinds = [(s.kind, s.name) for s in sqlite_app.history(instance_id)]
    assert kinds == [("now", "now"), ("uuid4", "uuid4"), ("event", "t.sem.clock"), ("now", "now")]


# -- event timeout inside §3's statuses (full coverage in test_engine_events) ------------------


@workflow("timeout_uncaught", registry=registry)
def timeout_uncaught(ctx) -> str:
    wait_event(ctx, "t.sem.late", timeout=30)
    return "arrived"


def test_uncaught_event_timeout_fails_the_instance(sqlite_app):
    instance_id = timeout_uncaught.start(sqlite_app)
    sqlite_app.tick(advance=30)
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.error["type"]) == ("failed", EventTimeout.__name__)


def test_instance_of_workflow_not_loaded_in_this_worker_is_parked_not_failed(sqlite_path, manual_clock):
    with App(database=sqlite_path, clock=manual_clock, registry=registry) as full:
        instance_id = order.start(full, "P1")
    with App(database=sqlite_path, worker_id="partial", clock=manual_clock, registry=Registry()) as partial:
        sent = partial.send_event("t.sem.go", {"order_id": "P1"})
        assert sent.resumed == {instance_id: "parked"}
        instance = partial.get(instance_id)
        assert (instance.status, instance.parked) == ("running", True)
        assert "'order' is not registered in this worker" in instance.error["message"]
    with App(database=sqlite_path, clock=manual_clock, registry=registry) as full:
        assert full.tick().resumed == {instance_id: "completed"}
    assert CALLS == ["charge:P1", "ship:P1"]
