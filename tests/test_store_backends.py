"""The Store contract on both back ends: a real SQLite file and a real PostgreSQL server.

Every test taking `store` / `store_url` runs once per back end. The PostgreSQL ones use the
session's throwaway cluster (tests/pgserver.py) with a fresh database each, and are skipped
when no server binaries are installed. The last sections are concurrency tests: they run
real threads against the real database, no mocks.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from romancy_cli import App, ManualClock, activity, continue_as_new, sleep, wait_event, workflow
from romancy_cli.engine.hooks import STILL_RUNNING
from romancy_cli.engine.ports import InstanceExists, LeaseLost
from romancy_cli.errors import DatabaseError, NotFoundError, RomancyError, StorageFault, UnavailableError, UsageError
from romancy_cli.records import (CANCELLED, COMPLETED, RUNNING, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Commit,
                                 EventInput, Instance, Step, StoredEvent, Transition, Wait)
from romancy_cli.store import open_store
from romancy_cli.store.schema import SCHEMA_VERSION
from romancy_cli.store.sql import SqlStore

import pgserver

NOW = 1_700_000_000.0
LEASE = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "romancy.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    opened = open_store(pg_url)
    yield opened
    opened.close()


# -- helpers -----------------------------------------------------------------------------------


def new(store: SqlStore, instance_id: str, owner: str = "w1", now: float = NOW) -> Instance:
    instance = Instance(instance_id, "wf", RUNNING, ["a"], {"k": 1}, now, now, event_floor=store.start_floor(),
                        lease_owner=owner, lease_until=now + LEASE)
    assert store.commit(Commit(instance_id, [], STILL_RUNNING, create=instance), owner, now, now + LEASE) is None
    return instance


def suspend_on_event(store: SqlStore, instance_id: str, event_type: str, match: Optional[dict] = None,
                     timeout_at: Optional[float] = None, owner: str = "w1", seq: int = 0,
                     consumed: tuple[tuple[str, str], ...] = ()) -> Optional[StoredEvent]:
    wait = Wait("event", seq, event_type, match, timeout_at)
    instance = store.get(instance_id)
    assert instance is not None
    return store.commit(Commit(instance_id, [], Transition(WAITING_FOR_EVENT, wait=wait),
                               event_floor=instance.event_floor, consumed=frozenset(consumed)), owner, NOW, NOW + LEASE)


def suspend(store: SqlStore, instance_id: str, wait: Wait, owner: str = "w1") -> None:
    assert store.commit(Commit(instance_id, [], Transition(WAITING_FOR_TIMER, wait=wait)), owner, NOW, NOW + LEASE) is None


def waiting(store: SqlStore, instance_id: str, event_type: str = "order.paid", **kwargs: Any) -> None:
    new(store, instance_id)
    assert suspend_on_event(store, instance_id, event_type, **kwargs) is None


def event(event_type: str = "order.paid", event_id: str = "e1", data: Any = None, target: Optional[str] = None,
          source: str = "/tests") -> EventInput:
    extensions = {"romancyinstanceid": target} if target else {}
    return EventInput(event_type, source, event_id, data, extensions=extensions)


def add(store: SqlStore, ev: EventInput, owner: Optional[str] = "w2") -> Any:
    return store.add_event(ev, NOW + 1, owner, NOW + 1 + LEASE)


def event_steps(store: SqlStore, instance_id: str) -> list[Step]:
    return [s for s in store.history(instance_id) if s.kind == "event"]


# -- instances, leases, commits ----------------------------------------------------------------


def test_a_taken_id_is_never_created_twice(store: SqlStore) -> None:
    first = new(store, "wf-1")
    other = Instance("wf-1", "other", RUNNING, ["b"], {}, NOW + 5, NOW + 5, lease_owner="w1", lease_until=NOW + 35)
    with pytest.raises(InstanceExists):
        store.commit(Commit("wf-1", [], STILL_RUNNING, create=other), "w1", NOW + 5, NOW + 35)
    assert store.get("wf-1") == first
    assert store.get("missing") is None


def test_event_floor_hides_events_from_before_the_start(store: SqlStore) -> None:
    add(store, event(event_id="before"))
    instance = new(store, "wf-1")
    assert instance.event_floor >= 1
    add(store, event(event_id="after"))  # stored while wf-1 runs, before it suspends
    found = suspend_on_event(store, "wf-1", "order.paid")
    assert found is not None and found.id == "after"


def test_claim_respects_a_live_lease(store: SqlStore) -> None:
    new(store, "wf-1", owner="w1")
    assert store.claim("wf-1", "w2", NOW + 1, NOW + 31) is None
    mine = store.claim("wf-1", "w1", NOW + 1, NOW + 31)
    assert mine is not None and mine[0].lease_owner == "w1"
    stolen = store.claim("wf-1", "w2", NOW + LEASE + 1, NOW + 100)  # w1's lease ran out
    assert stolen is not None and stolen[0].lease_owner == "w2"
    assert store.claim("wf-1", "w1", NOW + LEASE + 2, NOW + 100) is None
    recovered = store.claim("wf-1", "w3", NOW + LEASE + 2, NOW + 100, steal_from="w2")  # w2 known dead
    assert recovered is not None and store.get("wf-1").lease_owner == "w3"  # type: ignore[union-attr]


def test_claim_skips_parked_and_not_running(store: SqlStore) -> None:
    new(store, "parked")
    store.commit(Commit("parked", [], Transition(RUNNING, error={"type": "X", "message": "m"}, parked=True)), "w1",
                 NOW, NOW + LEASE)
    assert store.claim("parked", "w2", NOW, NOW + LEASE) is None
    assert store.claim("parked", "w2", NOW, NOW + LEASE, include_parked=True) is not None
    waiting(store, "waits")
    assert store.claim("waits", "w2", NOW, NOW + LEASE) is None


def test_commit_records_steps_and_transition(store: SqlStore) -> None:
    new(store, "wf-1")
    steps = [Step(0, "activity", "charge", {"value": {"id": "PAY-1"}}), Step(1, "now", "now", NOW)]
    assert store.commit(Commit("wf-1", steps, Transition(COMPLETED, output={"ok": True})), "w1", NOW + 1, NOW + 31) is None
    done = store.get("wf-1")
    assert done is not None
    assert (done.status, done.output, done.lease_owner, done.updated_at) == (COMPLETED, {"ok": True}, None, NOW + 1)
    assert store.history("wf-1") == steps


def test_commit_by_a_worker_that_lost_its_lease_raises(store: SqlStore) -> None:
    new(store, "wf-1", owner="w1")
    assert store.claim("wf-1", "w2", NOW + LEASE + 1, NOW + 100) is not None
    with pytest.raises(LeaseLost):
        store.commit(Commit("wf-1", [Step(0, "activity", "a", {"value": 1})], Transition(COMPLETED)), "w1", NOW, NOW)
    assert store.history("wf-1") == []  # the whole commit rolled back
    new(store, "wf-2")
    store.cancel("wf-2", "stop", NOW)
    with pytest.raises(LeaseLost):
        store.commit(Commit("wf-2", [], Transition(COMPLETED)), "w1", NOW, NOW)
    assert store.get("wf-2").status == CANCELLED  # type: ignore[union-attr]


def test_long_identifiers_are_stored(store: SqlStore) -> None:
    """CloudEvents puts no length limit on source or id; PostgreSQL must not cap them at 255."""
    long_id = "wf-" + "x" * 400
    waiting(store, long_id, "t" * 300)
    delivery = add(store, event("t" * 300, "i" * 500, source="https://example.com/" + "s" * 400, target=long_id))
    assert delivery.delivered == (long_id,)


# -- events ------------------------------------------------------------------------------------


def test_duplicate_event_is_applied_once(store: SqlStore) -> None:
    waiting(store, "wf-1")
    first = add(store, event(event_id="dup", data={"n": 1}))
    waiting(store, "wf-2")  # starts after the first copy: must not get the second copy either
    second = add(store, event(event_id="dup", data={"n": 2}))
    assert (first.duplicate, first.delivered) == (False, ("wf-1",))
    assert (second.duplicate, second.delivered, second.seq) == (True, (), first.seq)
    assert len(event_steps(store, "wf-1")) == 1
    assert store.get("wf-2").status == WAITING_FOR_EVENT  # type: ignore[union-attr]
    other_source = add(store, event(event_id="dup", source="/elsewhere"))
    assert not other_source.duplicate and other_source.delivered == ("wf-2",)


def test_targeted_event_reaches_only_its_instance(store: SqlStore) -> None:
    for name in ("wf-a", "wf-b"):
        waiting(store, name)
    delivery = add(store, event(target="wf-b"))
    assert delivery.delivered == ("wf-b",)
    assert store.get("wf-a").status == WAITING_FOR_EVENT  # type: ignore[union-attr]
    b = store.get("wf-b")
    assert b is not None and (b.status, b.lease_owner, b.wait) == (RUNNING, "w2", None)
    [step] = event_steps(store, "wf-b")
    assert step.result["seq"] == delivery.seq and step.result["extensions"] == {"romancyinstanceid": "wf-b"}


def test_broadcast_reaches_every_waiting_instance(store: SqlStore) -> None:
    for name in ("wf-a", "wf-b", "wf-c"):
        waiting(store, name)
    waiting(store, "wf-other", "other.type")
    delivery = add(store, event(data={"x": 1}), owner=None)
    assert sorted(delivery.delivered) == ["wf-a", "wf-b", "wf-c"]
    assert {i.instance_id for i in store.runnable(10, include_parked=False)} == {"wf-a", "wf-b", "wf-c"}
    assert all(store.get(n).lease_owner is None for n in delivery.delivered)  # type: ignore[union-attr]
    assert store.get("wf-other").status == WAITING_FOR_EVENT  # type: ignore[union-attr]


def test_match_selects_instances_by_event_data(store: SqlStore) -> None:
    waiting(store, "wf-1", match={"order_id": "ORD-1"})
    waiting(store, "wf-2", match={"order_id": "ORD-2", "customer.tier": "gold"})
    assert add(store, event(event_id="e1", data={"order_id": "ORD-2"})).delivered == ()
    delivery = add(store, event(event_id="e2", data={"order_id": "ORD-2", "customer": {"tier": "gold"}}))
    assert delivery.delivered == ("wf-2",)
    assert store.get("wf-1").status == WAITING_FOR_EVENT  # type: ignore[union-attr]


def test_event_stored_before_the_wait_commits_satisfies_it(store: SqlStore) -> None:
    """The start -> wait race: the suspending commit itself finds the event and stays running."""
    new(store, "wf-1")
    add(store, event(event_id="early", data={"order_id": "A"}))
    found = suspend_on_event(store, "wf-1", "order.paid", match={"order_id": "A"})
    assert found is not None and found.id == "early"
    instance = store.get("wf-1")
    assert instance is not None and (instance.status, instance.lease_owner) == (RUNNING, "w1")
    assert [s.name for s in event_steps(store, "wf-1")] == ["order.paid"]


def test_consumed_events_are_not_delivered_twice(store: SqlStore) -> None:
    new(store, "wf-1")
    add(store, event(event_id="one"))
    second = add(store, event(event_id="two"))
    first_source = event(event_id="one").source
    got = suspend_on_event(store, "wf-1", "order.paid", consumed=((first_source, "one"),))
    assert got is not None and got.seq == second.seq


# -- timers ------------------------------------------------------------------------------------


def test_fire_due_fires_timers_timeouts_and_retries(store: SqlStore) -> None:
    new(store, "timer")
    suspend(store, "timer", Wait("timer", 2, wake_at=NOW + 10))
    waiting(store, "timeout", timeout_at=NOW + 5, seq=1)
    new(store, "retry")
    suspend(store, "retry", Wait("retry", 0, wake_at=NOW + 8, attempt=2))
    new(store, "later")
    suspend(store, "later", Wait("timer", 0, wake_at=NOW + 100))
    waiting(store, "forever")  # no timeout: never due

    assert store.next_wake() == NOW + 5
    assert store.fire_due(NOW + 4, "w9", NOW + 40, 100) == []
    fired = store.fire_due(NOW + 10, "w9", NOW + 40, 100)
    assert sorted(fired) == ["retry", "timeout", "timer"]
    assert store.history("timer") == [Step(2, "timer", "sleep", {"fired_at": NOW + 10})]
    assert store.history("timeout") == [Step(1, "event", "order.paid", {"timeout": True, "at": NOW + 10})]
    assert store.history("retry") == []
    retry = store.get("retry")
    assert retry is not None and retry.wait == Wait("retry", 0, None, None, None, 2)  # attempt kept
    for name in fired:
        instance = store.get(name)
        assert instance is not None and (instance.status, instance.lease_owner) == (RUNNING, "w9")
    assert store.fire_due(NOW + 10, "w9", NOW + 40, 100) == []
    assert store.next_wake() == NOW + 100


def test_get_many_reads_a_batch_with_histories_in_the_order_given(store: SqlStore) -> None:
    for name in ("a", "b", "c"):
        new(store, name)
    suspend(store, "b", Wait("timer", 1, wake_at=NOW + 1))
    fired = store.fire_due(NOW + 1, "w2", NOW + 40, 10)
    assert fired == ["b"]
    batch = store.get_many(["c", "missing", "b", "a"])
    assert [(i.instance_id, i.status, i.lease_owner) for i, _ in batch] == [
        ("c", RUNNING, "w1"), ("b", RUNNING, "w2"), ("a", RUNNING, "w1")]
    assert [history for _, history in batch] == [[], store.history("b"), []]
    assert store.history("b") == [Step(1, "timer", "sleep", {"fired_at": NOW + 1})]
    assert store.get_many([]) == []


def test_commit_many_writes_each_outcome_it_still_holds_in_one_transaction(store: SqlStore) -> None:
    for name in ("a", "b", "c"):
        new(store, name)
    store.cancel("b", "stopped", NOW)
    step = Step(0, "activity", "x", {"value": 1})
    lost = store.commit_many([Commit("a", [step], Transition(COMPLETED, output=1)),
                              Commit("b", [step], Transition(COMPLETED, output=2)),
                              Commit("c", [], Transition(WAITING_FOR_TIMER, wait=Wait("timer", 1, wake_at=NOW + 9)))],
                             "w1", NOW + 1, NOW + 31)
    assert lost == ["b"]
    assert (store.get("a").status, store.get("a").output, store.history("a")) == (COMPLETED, 1, [step])
    assert (store.get("b").status, store.history("b")) == (CANCELLED, [])
    assert (store.get("c").status, store.get("c").wait.wake_at) == (WAITING_FOR_TIMER, NOW + 9)


def test_fire_due_respects_the_batch_limit(store: SqlStore) -> None:
    for n in range(5):
        new(store, f"t{n}")
        suspend(store, f"t{n}", Wait("timer", 0, wake_at=NOW + n))
    assert store.fire_due(NOW + 10, "w", NOW + 40, 2) == ["t0", "t1"]  # earliest first
    assert store.fire_due(NOW + 10, "w", NOW + 40, 10) == ["t2", "t3", "t4"]


def test_event_and_timeout_racing_for_one_wait_exactly_one_wins(store: SqlStore) -> None:
    waiting(store, "wf-1", timeout_at=NOW + 5)
    assert store.fire_due(NOW + 5, "w9", NOW + 40, 10) == ["wf-1"]
    assert add(store, event()).delivered == ()
    assert [s.result.get("timeout") for s in event_steps(store, "wf-1")] == [True]


def test_runnable_and_next_wake(store: SqlStore) -> None:
    assert store.runnable(10, include_parked=True) == [] and store.next_wake() is None
    new(store, "run-1", now=NOW)
    new(store, "run-2", now=NOW + 1)
    new(store, "parked")
    store.commit(Commit("parked", [], Transition(RUNNING, error={"type": "X", "message": "m"}, parked=True)), "w1",
                 NOW + 2, NOW + LEASE)
    new(store, "sleeps")
    suspend(store, "sleeps", Wait("timer", 0, wake_at=NOW + 60))
    assert [i.instance_id for i in store.runnable(10, include_parked=False)] == ["run-1", "run-2"]
    assert [i.instance_id for i in store.runnable(10, include_parked=True)] == ["run-1", "run-2", "parked"]
    assert [i.instance_id for i in store.runnable(1, include_parked=True)] == ["run-1"]
    assert store.next_wake() == NOW + 60


def test_cancel(store: SqlStore) -> None:
    waiting(store, "wf-1", timeout_at=NOW + 5)
    cancelled = store.cancel("wf-1", "no longer needed", NOW + 1)
    assert (cancelled.status, cancelled.error) == (CANCELLED, {"type": "Cancelled", "message": "no longer needed"})
    assert store.next_wake() is None and store.fire_due(NOW + 10, "w", NOW + 40, 10) == []
    assert add(store, event()).delivered == ()
    with pytest.raises(RomancyError, match="already cancelled"):
        store.cancel("wf-1", "again", NOW)
    with pytest.raises(NotFoundError):
        store.cancel("nope", "x", NOW)


# -- schema ------------------------------------------------------------------------------------


def test_reopening_keeps_data_and_a_newer_schema_is_refused(store_url: str) -> None:
    first = open_store(store_url)
    new(first, "wf-1")
    first.close()
    second = open_store(store_url)
    assert second.get("wf-1") is not None
    meta = second.m.Meta
    meta.update(value="99").where(meta.key == "schema_version").execute()
    second.close()
    with pytest.raises(DatabaseError, match="newer romancy-cli"):
        open_store(store_url)


# Version 1's layout: the same columns, full indexes, and on SQLite rowid tables.
V1_INDEXES = (
    'CREATE INDEX "romancy_instances_status_wake_at" ON "romancy_instances" ("status", "wake_at")',
    'CREATE INDEX "romancy_instances_wait_event_type_status_wait_match_keys_2e67f6e" ON "romancy_instances" '
    '("wait_event_type", "status", "wait_match_keys", "wait_match")',
    'CREATE INDEX "romancy_instances_workflow_status" ON "romancy_instances" ("workflow", "status")',
)
# version 3: ended instances by status; version 5: the web page's pages; version 6: running -> runnable;
# version 9: by workflow, covering the counts per status
CURRENT_INDEXES = {"romancy_instances_due", "romancy_instances_waiting", "romancy_instances_runnable",
                   "romancy_instances_counts", "romancy_instances_status", "romancy_instances_created",
                   "romancy_instances_parent", "romancy_instances_queue"}


def _as_version_1(store: SqlStore) -> None:
    db = store.db
    with db.atomic():
        db.execute_sql('DROP TABLE "romancy_wait_types"')  # version 4's
        for column in ("wait_more_types", "continued_from", "continued_as"):  # versions 4 and 7
            db.execute_sql(f'ALTER TABLE "romancy_instances" DROP COLUMN "{column}"')
        for name in CURRENT_INDEXES:
            db.execute_sql(f'DROP INDEX "{name}"')
        if store_is_sqlite(store):
            for table in ("romancy_instances", "romancy_steps"):
                create = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
                db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_v2"')
                db.execute_sql(create.replace(" WITHOUT ROWID", ""))
                db.execute_sql(f'INSERT INTO "{table}" SELECT * FROM "{table}_v2"')
                db.execute_sql(f'DROP TABLE "{table}_v2"')
        for statement in V1_INDEXES:
            db.execute_sql(statement)
        store.m.Meta.update(value="1").where(store.m.Meta.key == "schema_version").execute()


def store_is_sqlite(store: SqlStore) -> bool:
    return store.db.param == "?"


def _instance_indexes(store: SqlStore) -> set[str]:
    if store_is_sqlite(store):
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'romancy_instances' AND sql IS NOT NULL"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'romancy_instances'"
    return {row[0] for row in store.db.execute_sql(sql).fetchall() if not row[0].endswith("_pkey")}


def test_a_version_1_database_is_migrated_and_its_instances_go_on(store_url: str) -> None:
    RESERVED.clear()
    clock = ManualClock(NOW)
    with App(database=store_url, worker_id="v1", clock=clock) as app:
        iid = app.start("backends_order", "ORD-1")
        _as_version_1(app.store)
        assert "romancy_instances_status_wake_at" in _instance_indexes(app.store)
    with App(database=store_url, worker_id="v2", clock=clock) as app:
        store = app.store
        assert store.m.Meta.get(store.m.Meta.key == "schema_version").value == str(SCHEMA_VERSION)
        assert _instance_indexes(store) == CURRENT_INDEXES
        if store_is_sqlite(store):
            tables = dict(store.db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
            assert tables["romancy_instances"].endswith("WITHOUT ROWID")
            assert tables["romancy_steps"].endswith("WITHOUT ROWID")
        assert [s.kind for s in app.history(iid)] == ["activity"]
        assert app.send_event("backends.paid", {"order_id": "ORD-1", "amount": 2}).resumed == {iid: WAITING_FOR_TIMER}
        assert app.tick(advance="11m").resumed == {iid: COMPLETED}
    assert RESERVED == ["ORD-1"]


def test_a_version_2_database_gets_the_creation_and_runnable_indexes_and_keeps_its_instances(store_url: str) -> None:
    with App(database=store_url, worker_id="v2", clock=ManualClock(NOW)) as app:
        iid = app.start("backends_order", "ORD-2")
        db = app.store.db
        with db.atomic():
            for name in ("romancy_instances_created", "romancy_instances_runnable", "romancy_instances_status"):
                db.execute_sql(f'DROP INDEX "{name}"')
            db.execute_sql('CREATE INDEX "romancy_instances_running" ON "romancy_instances" ("updated_at") '
                           "WHERE status = 'running'")
            app.store.m.Meta.update(value="2").where(app.store.m.Meta.key == "schema_version").execute()
    with App(database=store_url, worker_id="v6", clock=ManualClock(NOW)) as app:
        store = app.store
        assert store.m.Meta.get(store.m.Meta.key == "schema_version").value == str(SCHEMA_VERSION)
        assert _instance_indexes(store) == CURRENT_INDEXES
        assert [i.instance_id for i in app.list_instances(search=iid)] == [iid]


def _ended_index(store: SqlStore) -> str:
    """The definition of the partial index of ended instances."""
    if store_is_sqlite(store):
        sql = "SELECT sql FROM sqlite_master WHERE name = 'romancy_instances_status'"
    else:
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'romancy_instances_status'"
    return store.db.execute_sql(sql).fetchone()[0]


@workflow("backends_counter")
def backends_counter(ctx: Any, total: int) -> None:
    continue_as_new(ctx, total + wait_event(ctx, "backends.add").data["n"])


def test_a_version_6_database_gets_the_continuation_links_and_its_instances_continue(store_url: str) -> None:
    with App(database=store_url, worker_id="v6", clock=ManualClock(NOW)) as app:
        iid = app.start("backends_counter", 1)
        db = app.store.db
        with db.atomic():
            for column in ("continued_from", "continued_as"):
                db.execute_sql(f'ALTER TABLE "romancy_instances" DROP COLUMN "{column}"')
            db.execute_sql('DROP INDEX "romancy_instances_status"')
            db.execute_sql('CREATE INDEX "romancy_instances_status" ON "romancy_instances" '
                           "(\"status\", \"created_at\", \"instance_id\") "
                           "WHERE status IN ('cancelled', 'completed', 'failed')")
            app.store.m.Meta.update(value="6").where(app.store.m.Meta.key == "schema_version").execute()
    with App(database=store_url, worker_id="v7", clock=ManualClock(NOW)) as app:
        store = app.store
        assert store.m.Meta.get(store.m.Meta.key == "schema_version").value == str(SCHEMA_VERSION)
        assert "continued_as_new" in _ended_index(store)
        assert app.send_event("backends.add", {"n": 2}).resumed == {iid: "continued_as_new"}
        new = app.get(iid).continued_as
        assert app.get(new).args == [3] and app.get(new).continued_from == iid  # type: ignore[union-attr]
        assert [i.instance_id for i in app.list_instances(status="continued_as_new")] == [iid]


# -- end to end through App --------------------------------------------------------------------

RESERVED: list[str] = []


@activity("backends_reserve")
def reserve(ctx: Any, order_id: str) -> str:
    RESERVED.append(order_id)
    return f"R-{order_id}"


@workflow("backends_order")
def order_flow(ctx: Any, order_id: str) -> dict:
    reservation = reserve.execute(ctx, order_id)
    paid = wait_event(ctx, "backends.paid", timeout="1h", match={"order_id": order_id})
    sleep(ctx, "10m")
    return {"reservation": reservation, "amount": paid.data["amount"]}


def test_app_runs_a_workflow_end_to_end(store_url: str) -> None:
    RESERVED.clear()
    clock = ManualClock(NOW)
    with App(database=store_url, worker_id="e2e", clock=clock) as app:
        iid = app.start("backends_order", "ORD-1")
        other = app.start("backends_order", "ORD-2")
        assert app.get(iid).status == WAITING_FOR_EVENT
        sent = app.send_event("backends.paid", {"order_id": "ORD-1", "amount": 9.5})
        assert sent.resumed == {iid: WAITING_FOR_TIMER}
        clock.advance("5m")
        assert app.tick().resumed == {}
        assert app.tick(advance="6m").resumed == {iid: COMPLETED}
        assert app.get(iid).output == {"reservation": "R-ORD-1", "amount": 9.5}
        assert app.tick(advance="2h").resumed == {other: "failed"}  # EventTimeout, not caught
        assert app.get(other).error["type"] == "EventTimeout"  # type: ignore[index]
    assert RESERVED == ["ORD-1", "ORD-2"]  # each activity ran once across all the resumes
    with App(database=store_url, worker_id="e2e-2", clock=clock) as again:
        assert again.start_instance("backends_order", ["ORD-1"], {}, instance_id=iid) == (iid, False)
        assert [s.kind for s in again.history(iid)] == ["activity", "event", "timer"]


@activity("backends_release")
def release(ctx: Any, reservation: str, order_id: str) -> None:
    RESERVED.append(f"released {reservation}")


@activity("backends_hold", compensate=release)
def hold(ctx: Any, order_id: str) -> str:
    RESERVED.append(order_id)
    return f"H-{order_id}"


@workflow("backends_held")
def held_flow(ctx: Any, order_id: str) -> None:
    hold.execute(ctx, order_id)
    wait_event(ctx, "backends.paid", match={"order_id": order_id})


def test_a_cancelled_instance_is_compensating_until_a_worker_undoes_it(store_url: str) -> None:
    """Status `compensating` is runnable like `running`: claimed, leased, committed and recovered."""
    RESERVED.clear()
    with App(database=store_url, worker_id="saga", clock=ManualClock(NOW)) as app:
        iid = app.start("backends_held", "ORD-1")
        cancelled = app.cancel(iid, "changed my mind")
        assert (cancelled.status, cancelled.lease_owner) == ("compensating", None)
        assert [i.instance_id for i in app.store.runnable(10, include_parked=False)] == [iid]
        assert app.tick().resumed == {iid: CANCELLED}
        assert app.get(iid).error == {"type": "Cancelled", "message": "changed my mind"}
        assert app.tick().resumed == {}
    assert RESERVED == ["ORD-1", "released H-ORD-1"]


# -- wake-ups ----------------------------------------------------------------------------------


def test_wait_for_wake_times_out_without_news(store: SqlStore) -> None:
    store.listen()
    start = time.monotonic()
    assert store.wait_for_wake(0.3) is False
    assert 0.25 <= time.monotonic() - start < 5


def test_news_between_two_waits_is_not_missed(store: SqlStore, store_url: str) -> None:
    """What happens while the caller is busy (between two waits) wakes the next wait at once."""
    other = open_store(store_url)
    try:
        waiting(other, "wf-1")
        store.listen()
        add(other, event(), owner=None)
        start = time.monotonic()
        assert store.wait_for_wake(20) is True
        assert time.monotonic() - start < 5
        assert store.wait_for_wake(0.1) is False  # that news was consumed
    finally:
        other.close()


def _woken_by(store: SqlStore, store_url: str, prepare: Any, act: Any) -> None:
    """`store` waits for a wake-up; another connection prepares, then acts 0.3 s later."""
    other = open_store(store_url)
    try:
        prepare(other)
        store.listen()  # wake-ups count from here
        timer = threading.Timer(0.3, _in_thread(other, lambda: act(other)))
        timer.start()
        start = time.monotonic()
        assert store.wait_for_wake(20) is True
        assert time.monotonic() - start < 5
        timer.join()
    finally:
        other.close()


def test_wait_for_wake_returns_soon_after_another_connection_delivers(store: SqlStore, store_url: str) -> None:
    _woken_by(store, store_url, lambda other: waiting(other, "wf-1"),
              lambda other: add(other, event(), owner=None))


def test_a_new_wake_time_wakes_a_waiting_worker(store: SqlStore, store_url: str) -> None:
    _woken_by(store, store_url, lambda other: new(other, "wf-1"),
              lambda other: suspend(other, "wf-1", Wait("timer", 0, wake_at=NOW + 60)))


# -- concurrency -------------------------------------------------------------------------------


def _in_thread(store: SqlStore, fn: Any) -> Any:
    """Run fn in a worker thread with its own connection, returned to the pool afterwards."""
    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        finally:
            store.db.close()
    return run


def test_concurrent_claims_of_one_instance_give_one_lease(store: SqlStore) -> None:
    new(store, "wf-1", owner="dead")
    barrier = threading.Barrier(6)

    def claim(n: int) -> bool:
        barrier.wait()
        return store.claim("wf-1", f"w{n}", NOW + LEASE + 1, NOW + 100) is not None

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(_in_thread(store, claim), range(6)))
    assert sum(results) == 1


def test_concurrent_fire_due_fires_each_timer_once(store: SqlStore) -> None:
    count = 120
    for n in range(count):
        new(store, f"t{n:03}")
        suspend(store, f"t{n:03}", Wait("timer", 0, wake_at=NOW + n % 7))
    workers = 4
    barrier = threading.Barrier(workers)

    def worker(n: int) -> list[str]:
        barrier.wait()
        fired: list[str] = []
        while batch := store.fire_due(NOW + 10, f"w{n}", NOW + 40, 5):
            fired += batch
        return fired

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(_in_thread(store, worker), range(workers)))
    everything = [i for fired in results for i in fired]
    assert sorted(everything) == [f"t{n:03}" for n in range(count)]  # each exactly once
    for n in range(count):
        assert len(store.history(f"t{n:03}")) == 1
    owners = {store.get(i).lease_owner for i in everything}  # type: ignore[union-attr]
    assert owners <= {f"w{n}" for n in range(workers)}


def test_an_event_racing_a_suspension_is_never_lost(store: SqlStore) -> None:
    """Thread A suspends an instance on wait_event while thread B stores the event it waits for.

    Exactly one side must satisfy the wait: A's commit finds the event, or B delivers it."""
    rounds = 300
    barrier = threading.Barrier(2)
    ids = [f"race-{n:03}" for n in range(rounds)]
    for instance_id in ids:
        new(store, instance_id)

    def suspender(instance_id: str) -> Optional[StoredEvent]:
        barrier.wait()
        return suspend_on_event(store, instance_id, "race.done")

    def sender(instance_id: str) -> Any:
        barrier.wait()
        return add(store, event("race.done", f"ev-{instance_id}", target=instance_id), owner=None)

    with ThreadPoolExecutor(2) as pool:
        for instance_id in ids:
            found = pool.submit(suspender, instance_id)
            delivery = pool.submit(sender, instance_id).result()
            late = found.result()
            assert (late is not None) != (delivery.delivered == (instance_id,)), instance_id
            instance = store.get(instance_id)
            assert instance is not None and instance.status == RUNNING, instance_id
            if late is None:
                assert len(event_steps(store, instance_id)) == 1


# -- PostgreSQL specifics ----------------------------------------------------------------------


def test_first_opens_racing_create_the_schema_once(pg_url: str) -> None:
    barrier = threading.Barrier(5)

    def open_one(_: int) -> int:
        barrier.wait()
        opened = open_store(pg_url)
        try:
            return int(opened.m.Meta.get(opened.m.Meta.key == "schema_version").value)
        finally:
            opened.close()

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(open_one, range(5))) == [SCHEMA_VERSION] * 5


def test_unreachable_server_is_one_clear_error() -> None:
    port = pgserver.free_port()
    with pytest.raises(UnavailableError) as caught:
        open_store(f"postgresql://someone:s3cret@127.0.0.1:{port}/romancy")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "s3cret" not in message and "\n" not in message


def test_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(UnavailableError, match=r"pip install 'romancy-cli\[postgres\]'"):
        open_store("postgresql://localhost/romancy")


def test_transactions_are_read_committed_whatever_the_server_default(pg_url: str, pg_server: str) -> None:
    import psycopg

    name = pg_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_isolation = \'serializable\'')
    opened = open_store(pg_url)
    try:
        with opened.db.atomic():
            level = opened.db.execute_sql("SHOW transaction_isolation").fetchone()[0]
        assert level == "read committed"
    finally:
        opened.close()


def test_a_dropped_connection_is_reopened(pg_store: SqlStore, pg_server: str) -> None:
    import psycopg

    new(pg_store, "wf-1")
    pid = pg_store.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StorageFault, match="connection lost"):
        pg_store.get("wf-1")  # the query that finds the connection gone fails...
    assert pg_store.get("wf-1") is not None  # ...and the next one reconnects


def test_claims_skip_rows_another_worker_is_locking(pg_store: SqlStore, pg_url: str) -> None:
    """SKIP LOCKED: a worker neither waits for nor takes an instance another one is claiming."""
    import psycopg

    new(pg_store, "locked", owner="dead")
    new(pg_store, "free", owner="dead")
    for name in ("locked-timer", "free-timer"):
        new(pg_store, name)
        suspend(pg_store, name, Wait("timer", 0, wake_at=NOW))
    with psycopg.connect(pg_url) as holder:  # an open transaction holding two row locks
        holder.execute("SELECT 1 FROM romancy_instances WHERE instance_id IN ('locked', 'locked-timer') FOR UPDATE")
        start = time.monotonic()
        assert pg_store.claim("locked", "w2", NOW + LEASE + 1, NOW + 100) is None
        assert pg_store.claim("free", "w2", NOW + LEASE + 1, NOW + 100) is not None
        assert pg_store.fire_due(NOW + 1, "w2", NOW + 40, 10) == ["free-timer"]
        assert time.monotonic() - start < 5
    assert pg_store.fire_due(NOW + 1, "w2", NOW + 40, 10) == ["locked-timer"]


def test_an_invalid_url_is_a_usage_error_that_hides_the_password() -> None:
    with pytest.raises(UsageError, match="invalid PostgreSQL URL") as caught:
        open_store("postgresql://someone:s3cret@[::1/romancy")
    assert "s3cret" not in str(caught.value)


# -- looking back and cleaning up (store/upkeep.py) ---------------------------------------------


def test_a_version_2_database_gets_the_status_and_consumer_indexes(store_url: str) -> None:
    with App(database=store_url, worker_id="v2") as app:
        iid = app.start("backends_order", "ORD-1")
        app.send_event("backends.paid", {"order_id": "ORD-1", "amount": 2}, event_id="paid")
        for name in ("romancy_instances_status", "romancy_steps_event_seq"):
            app.store.db.execute_sql(f'DROP INDEX "{name}"')
        app.store.m.Meta.update(value="2").where(app.store.m.Meta.key == "schema_version").execute()
    with App(database=store_url, worker_id="v3") as app:
        assert "romancy_instances_status" in _instance_indexes(app.store)
        assert app.list_events()[0].consumed_by == (iid,)
        assert [i.instance_id for i in app.list_instances(status=app.get(iid).status)] == [iid]


def test_events_consumers_retry_and_prune_on_both_back_ends(store_url: str) -> None:
    RESERVED.clear()
    with App(database=store_url, worker_id="w", clock=ManualClock(NOW)) as app:
        first = app.start("backends_order", "ORD-1")
        second = app.start("backends_order", "ORD-2")
        app.send_event("backends.paid", {"order_id": "ORD-1", "amount": 2}, event_id="hit")
        app.send_event("backends.paid", {"order_id": "ORD-3"}, event_id="miss")
        assert [(e.event.id, e.consumed_by) for e in app.list_events()] == [("miss", ()), ("hit", (first,))]
        assert [e.event.id for e in app.list_events(unconsumed=True)] == ["miss"]
        assert [(m.event.id, reason) for m, reason in app.near_misses(app.get(second))] == [
            ("miss", 'data.order_id is "ORD-3", wanted "ORD-2"'), ("hit", 'data.order_id is "ORD-1", wanted "ORD-2"')]
        page = app.list_instances(limit=1)
        rest = app.list_instances(after=(page[0].created_at, page[0].instance_id))
        assert [i.instance_id for i in page + rest] == [second, first]
        app.cancel(second)
        app.tick(advance="11m")
        assert app.get(first).status == COMPLETED
        assert app.prune(NOW + 3600, NOW + 3600, dry_run=True).instances == 2
        result = app.prune(NOW + 3600, NOW + 3600)
        assert (result.instances, result.events) == (2, 2)
        assert app.list_instances() == [] and app.list_events() == []
        with pytest.raises(NotFoundError):
            app.retry(first)


def test_a_version_8_database_gets_the_counts_index_and_the_trace_column(store_url: str) -> None:
    with App(database=store_url, worker_id="v8", clock=ManualClock(NOW)) as app:
        iid = app.start("backends_counter", 1)
        db = app.store.db
        with db.atomic():
            db.execute_sql('DROP INDEX "romancy_instances_counts"')
            db.execute_sql('ALTER TABLE "romancy_instances" DROP COLUMN "trace_context"')
            db.execute_sql('CREATE INDEX "romancy_instances_workflow" ON "romancy_instances" ("workflow")')
            app.store.m.Meta.update(value="8").where(app.store.m.Meta.key == "schema_version").execute()
    with App(database=store_url, worker_id="v9", clock=ManualClock(NOW)) as app:
        store = app.store
        assert store.m.Meta.get(store.m.Meta.key == "schema_version").value == str(SCHEMA_VERSION)
        assert _instance_indexes(store) == CURRENT_INDEXES
        assert app.count_by_workflow() == {("backends_counter", WAITING_FOR_EVENT): 1}
        assert app.get(iid).trace is None  # started untraced; new instances keep theirs in the column
        app.cancel(iid)
        assert app.count_by_workflow() == {("backends_counter", "cancelled"): 1}
        if store_is_sqlite(store):
            plan = store.db.execute_sql("EXPLAIN QUERY PLAN SELECT workflow, status, parked, COUNT(*) FROM "
                                        "romancy_instances GROUP BY workflow, status, parked").fetchall()
            assert "COVERING INDEX romancy_instances_counts" in str(plan)


# -- ids by prefix, awaited types (the CLI's typed prefixes and did-you-mean) ------------------------


def test_ids_starting_with_takes_prefixes_literally(store: SqlStore) -> None:
    for iid in ("wf-AB1", "wf-AB2", "wf-AC", "wf_AB9", "wf-%X"):
        new(store, iid)
    assert store.ids_starting_with(["wf-AB"], 10) == ["wf-AB1", "wf-AB2"]  # `_` and `%` are no wildcards
    assert sorted(store.ids_starting_with(["wf-AB", "wf-%"], 10)) == ["wf-%X", "wf-AB1", "wf-AB2"]
    assert len(store.ids_starting_with(["wf"], 2)) == 2
    assert store.ids_starting_with([], 10) == []


def test_waited_types_are_those_of_waiting_instances(store: SqlStore) -> None:
    waiting(store, "wf-1", "cart.confirmed")
    waiting(store, "wf-2", "order.paid")
    new(store, "wf-3")  # running: waits for nothing
    assert store.waited_types(10) == ["cart.confirmed", "order.paid"]
    assert store.waited_types(1) == ["cart.confirmed"]


def test_the_virtual_clock_offset_adds_up_and_resets(store: SqlStore) -> None:
    assert store.clock_offset() == 0.0
    assert store.move_clock(2400.0) == 2400.0
    assert store.move_clock(2400.5) == 4800.5
    assert store.clock_offset() == 4800.5
    assert store.move_clock(-4800.5) == 0.0 and store.clock_offset() == 0.0
