"""The write transactions of README "Benchmarks" (where the time goes, by design): counts those
SQLite sees, so a change that adds commits is noticed.

Current numbers for the seed's payment workflow: start→wait = 1 (the instance, its quick first
activity's result and the wait), deliver→complete = 1 (event + satisfied wait + completion: the run
is replayed before its commit)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from romancy_cli import App, Registry, activity, sleep, wait_event, workflow
from romancy_cli.records import EventInput

from example_modules import examples_registry, load_example

registry = Registry()  # this module's workflows, so their names need only be unique here


class Statements:
    def __init__(self) -> None:
        self.log: list[str] = []

    @property
    def begins(self) -> int:
        return sum(1 for s in self.log if s.startswith("BEGIN"))

    @property
    def commits(self) -> int:
        return sum(1 for s in self.log if s == "COMMIT")

    @property
    def immediate(self) -> bool:
        return all(s == "BEGIN IMMEDIATE" for s in self.log if s.startswith("BEGIN"))


@contextmanager
def traced(app) -> Iterator[Statements]:
    """Every statement run on the app's SQLite connection inside the block."""
    statements = Statements()
    conn = app.engine.store.db.connection()
    conn.set_trace_callback(statements.log.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


@pytest.fixture
def payment():
    return load_example("payment_workflow")


@pytest.fixture
def payment_app(sqlite_path, manual_clock):
    with App(database=sqlite_path, worker_id="tx", clock=manual_clock, registry=examples_registry()) as app:
        yield app


@workflow("wait", registry=registry)
def just_wait(ctx) -> str:
    return wait_event(ctx, "t.tx.go").id


@workflow("sleep", registry=registry)
def just_sleep(ctx) -> str:
    sleep(ctx, "1m")
    return "woke"


def test_payment_start_to_wait_takes_one_write_transaction(payment_app, payment, capsys):
    """Its activity comes first and is quick: the instance, the activity's result and the wait are
    stored together (a first activity that runs longer is covered in test_engine_start.py)."""
    with traced(payment_app) as tx:
        instance_id = payment.payment_workflow.start(payment_app, "ORD-TX")
    assert payment_app.get(instance_id).status == "waiting_for_event"
    assert (tx.begins, tx.commits) == (1, 1)
    assert tx.immediate  # writers take the lock up front instead of upgrading (no SQLITE_BUSY deadlock)


def test_payment_deliver_to_complete_takes_one_write_transaction(payment_app, payment, capsys):
    instance_id = payment.payment_workflow.start(payment_app, "ORD-TX")
    with traced(payment_app) as tx:
        sent = payment_app.send_event("payment.completed",
                                     {"order_id": "ORD-TX", "transaction_id": "TXN-1", "amount": 9.5})
    assert sent.resumed == {instance_id: "completed"}
    assert (tx.begins, tx.commits) == (1, 1)


def test_broadcast_delivery_is_one_transaction_for_all_instances(sqlite_app):
    ids = [just_wait.start(sqlite_app) for _ in range(3)]
    with traced(sqlite_app) as tx:
        sent = sqlite_app.send_event("t.tx.go", resume=False)
    assert sorted(sent.delivered) == sorted(ids)
    assert tx.commits == 1
    with traced(sqlite_app) as tx:
        assert set(sqlite_app.tick().resumed.values()) == {"completed"}
    # tick: nothing due (no transaction), then per instance a lease claim and its completion.
    assert tx.commits == 3 * 2


def test_due_timers_fire_in_one_batched_transaction(sqlite_app):
    for _ in range(3):
        just_sleep.start(sqlite_app)
    with traced(sqlite_app) as tx:
        result = sqlite_app.tick(advance="1m")
    assert len(result.fired) == 3 and set(result.resumed.values()) == {"completed"}
    assert tx.commits == 2  # one firing all timers, one writing all their completions
    # The fired batch is read back in two statements (instances, histories), not two per instance.
    per_instance_reads = [s for s in tx.log if s.startswith("SELECT") and "WHERE instance_id = " in s]
    batch_reads = [s for s in tx.log if s.startswith("SELECT") and "WHERE instance_id IN (" in s]
    assert per_instance_reads == [] and len(batch_reads) == 2


@activity("after_event", registry=registry)
def after_event(ctx, event_id: str) -> str:
    return f"done {event_id}"


@workflow("wait_then_activity", registry=registry)
def wait_then_activity(ctx) -> str:
    event = wait_event(ctx, "t.tx.handed")
    return after_event.execute(ctx, event.id)


def _hand_over(app: App, instance_id: str) -> tuple:
    """An event accepted as HTTP does: stored and leased, its instances handed over to run next."""
    handed: list = []
    event = EventInput("t.tx.handed", "/tests", f"e-{instance_id}", extensions={"romancyinstanceid": instance_id})
    app.accept(event, resume=False, dispatch=handed.extend)
    return tuple(handed)


def test_an_instance_handed_over_by_its_delivery_is_run_without_reading_it_back(sqlite_app):
    instance_id = wait_then_activity.start(sqlite_app)
    (handed,) = _hand_over(sqlite_app, instance_id)
    assert (handed.instance_id, handed.status, handed.wait, handed.lease_owner) == (
        instance_id, "running", None, sqlite_app.engine.owner)
    with traced(sqlite_app) as tx:
        assert sqlite_app.engine.run_leased(handed) == "completed"
    reads = [s for s in tx.log if s.startswith("SELECT")]
    assert len(reads) == 1 and reads[0].startswith("SELECT seq, kind, name, result FROM romancy_steps")
    assert tx.commits == 1 and sqlite_app.get(instance_id).output == f"done e-{instance_id}"


def test_an_instance_handed_over_after_its_lease_ran_out_is_claimed_again(sqlite_app, manual_clock):
    instance_id = wait_then_activity.start(sqlite_app)
    (handed,) = _hand_over(sqlite_app, instance_id)
    manual_clock.advance("2m")  # past the 30 s lease: another worker may have taken it meanwhile
    with traced(sqlite_app) as tx:
        assert sqlite_app.engine.run_leased(handed) == "completed"
    assert any(s.startswith("SELECT instance_id, workflow") for s in tx.log)  # read back, then claimed
    assert any(s.startswith("UPDATE romancy_instances SET lease_owner") for s in tx.log)
    assert sqlite_app.get(instance_id).status == "completed"


LEASE_CLOCK: list = []  # the manual clock of the test below, for its activity to move


@activity("slow_step", registry=registry)
def slow_step(ctx) -> str:
    LEASE_CLOCK[0].advance("2m")  # longer than the lease: the rest of the batch must claim again
    return "slow"


@workflow("sleep_then_slow", registry=registry)
def sleep_then_slow(ctx) -> str:
    sleep(ctx, "1m")
    return slow_step.execute(ctx)


def test_fired_instance_whose_lease_ran_out_meanwhile_is_claimed_again(sqlite_app, manual_clock):
    LEASE_CLOCK[:] = [manual_clock]
    first, second = sleep_then_slow.start(sqlite_app), sleep_then_slow.start(sqlite_app)
    with traced(sqlite_app) as tx:
        result = sqlite_app.tick(advance="1m")
    assert result.resumed == {first: "completed", second: "completed"}
    # The first ran on the lease of the fire; the second's lease had expired by its turn.
    takes = [s for s in tx.log if s.startswith("UPDATE romancy_instances SET lease_owner")]
    assert len(takes) == 1 and second in takes[0]


def test_duplicate_event_takes_one_transaction_and_writes_nothing(sqlite_app, sqlite_rows):
    just_wait.start(sqlite_app)
    sqlite_app.send_event("t.tx.go", source="s", event_id="e")
    tables = ("romancy_instances", "romancy_steps", "romancy_events")
    before = [sqlite_rows(f"SELECT * FROM {table}") for table in tables]
    with traced(sqlite_app) as tx:
        assert sqlite_app.send_event("t.tx.go", source="s", event_id="e").duplicate
    assert tx.commits == 1
    assert [sqlite_rows(f"SELECT * FROM {table}") for table in tables] == before
    # The event's insert is the only write statement, and it does nothing on a known (source, id).
    writes = [s for s in tx.log if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO romancy_events") and "DO NOTHING" in writes[0]


OPERATOR_DB: list[str] = []


@activity("cancel_own", registry=registry)
def cancel_own(ctx) -> str:
    with App(database=OPERATOR_DB[0], worker_id="operator", registry=registry) as operator:
        operator.cancel(ctx.instance_id, "cancelled while its completion waited for the batch")
    return "ran"


@workflow("sleep_then_cancelled", registry=registry)
def sleep_then_cancelled(ctx) -> str:
    sleep(ctx, "1m")
    return cancel_own.execute(ctx)


def test_a_batch_writes_the_other_completions_when_one_instance_was_cancelled(sqlite_app, sqlite_path,
                                                                                manual_clock):
    OPERATOR_DB[:] = [sqlite_path]
    cancelled = sleep_then_cancelled.start(sqlite_app)
    manual_clock.advance("1s")
    completed = just_sleep.start(sqlite_app)
    result = sqlite_app.tick(advance="2m")
    assert result.resumed == {cancelled: "cancelled", completed: "completed"}
    assert sqlite_app.get(cancelled).error["message"] == "cancelled while its completion waited for the batch"
    assert sqlite_app.history(cancelled)[-1].kind == "timer"  # its activity's result was not written
    assert sqlite_app.get(completed).output == "woke"


@activity("wait_for_first", registry=registry)
def wait_for_first(ctx, first: str) -> bool:
    """Runs until the first instance of its batch shows completed to another connection."""
    with App(database=OPERATOR_DB[0], worker_id="observer", registry=registry) as observer:
        deadline = time.monotonic() + 5
        while observer.get(first).status != "completed" and time.monotonic() < deadline:
            time.sleep(0.005)
        return observer.get(first).status == "completed"


@workflow("sleep_then_wait_for_first", registry=registry)
def sleep_then_wait_for_first(ctx, first: str) -> bool:
    sleep(ctx, "1m")
    return wait_for_first.execute(ctx, first)


def test_a_slow_activity_in_a_batch_does_not_hold_back_completions_before_it(sqlite_app, sqlite_path,
                                                                             manual_clock):
    OPERATOR_DB[:] = [sqlite_path]
    first = just_sleep.start(sqlite_app)
    manual_clock.advance("1s")
    slow = sleep_then_wait_for_first.start(sqlite_app, first)
    result = sqlite_app.tick(advance="2m")
    assert result.resumed == {first: "completed", slow: "completed"}
    assert sqlite_app.get(slow).output is True  # the deadline thread wrote the first one meanwhile
