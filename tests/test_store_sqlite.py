"""The SQLite store: opening, refusing foreign or newer files, and the storage contract on plain records."""

from __future__ import annotations

import hashlib
from dataclasses import replace
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from romancy_cli import App, Registry
from romancy_cli.engine.hooks import STILL_RUNNING
from romancy_cli.engine.ports import InstanceExists, LeaseLost
from romancy_cli.errors import DatabaseError, UnavailableError
from romancy_cli.records import Commit, EventInput, Instance, Step, Transition, Wait
from romancy_cli.store.schema import SCHEMA_VERSION
from romancy_cli.store.sqlite import open_sqlite

registry = Registry()  # this module's workflows, so their names need only be unique here

T0 = 1_700_000_000.0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


# -- opening ------------------------------------------------------------------------------


def test_new_database_gets_schema_version_and_wal(tmp_path: Path):
    path = tmp_path / "new.db"
    store = open_sqlite(str(path))
    store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM romancy_meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert {"romancy_meta", "romancy_instances", "romancy_steps", "romancy_events"} <= tables


def test_reopening_keeps_instances_and_history(tmp_path: Path, manual_clock):
    from romancy_cli import wait_event, workflow

    @workflow("reopen", registry=registry)
    def reopen(ctx) -> str:
        return wait_event(ctx, "t.store.reopen").id

    path = str(tmp_path / "keep.db")
    with App(database=path, clock=manual_clock, registry=registry) as app:
        instance_id = reopen.start(app)
    with App(database=path, clock=manual_clock, registry=registry) as app:
        assert app.get(instance_id).status == "waiting_for_event"
        app.send_event("t.store.reopen", event_id="later")
    with App(database=path, clock=manual_clock, registry=registry) as app:
        assert app.get(instance_id).output == "later"


def test_database_from_newer_schema_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "future.db"
    open_sqlite(str(path)).close()
    _sql(path, "UPDATE romancy_meta SET value = '99' WHERE key = 'schema_version'")
    before = _digest(path)
    with pytest.raises(DatabaseError) as caught:
        App(database=str(path)).initialize()
    message = str(caught.value)
    assert str(path) in message and "newer romancy-cli (schema 99" in message and "upgrade" in message
    assert _digest(path) == before


def test_non_sqlite_file_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(DatabaseError, match="is not a SQLite database"):
        App(database=str(path)).initialize()
    assert path.read_text() == "these are my notes, not a database\n"


def test_sqlite_file_with_foreign_tables_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "shop.db"
    _sql(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
         "INSERT INTO customers (name) VALUES ('ann')")
    before = _digest(path)
    with pytest.raises(DatabaseError, match="not a romancy database .*customers"):
        App(database=str(path)).initialize()
    assert _digest(path) == before


def test_romancy_tables_without_version_are_refused(tmp_path: Path):
    path = tmp_path / "odd.db"
    _sql(path, "CREATE TABLE romancy_meta (key TEXT PRIMARY KEY, value TEXT)")
    with pytest.raises(DatabaseError, match="no romancy schema version"):
        open_sqlite(str(path))


def test_empty_file_is_initialised(tmp_path: Path):
    path = tmp_path / "empty.db"
    path.touch()
    open_sqlite(str(path)).close()
    assert path.stat().st_size > 0


def test_missing_folder_is_unavailable(tmp_path: Path):
    with pytest.raises(UnavailableError, match="does not exist"):
        open_sqlite(str(tmp_path / "no" / "such" / "r.db"))


def test_folder_instead_of_file_is_refused(tmp_path: Path):
    with pytest.raises(DatabaseError, match="it is a folder"):
        open_sqlite(str(tmp_path))


def test_invalid_synchronous_mode_is_refused(tmp_path: Path):
    with pytest.raises(DatabaseError, match="invalid synchronous mode 'sometimes'"):
        open_sqlite(str(tmp_path / "s.db"), synchronous="sometimes")


# -- the Store contract on plain records ------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path):
    store = open_sqlite(str(tmp_path / "store.db"))
    yield store
    store.close()


def _instance(instance_id: str = "wf-1", owner: str = "me") -> Instance:
    return Instance(instance_id, "wf", "running", ["x"], {}, T0, T0, lease_owner=owner, lease_until=T0 + 30)


def _create(store, instance: Instance) -> None:
    floor = store.start_floor()
    instance = replace(instance, event_floor=floor)
    store.commit(Commit(instance.instance_id, [], STILL_RUNNING, create=instance), instance.lease_owner, T0, T0 + 30)


def test_a_new_instance_is_created_once(sqlite_store):
    _create(sqlite_store, _instance())
    with pytest.raises(InstanceExists):
        _create(sqlite_store, _instance(owner="other"))
    stored = sqlite_store.get("wf-1")
    assert stored.lease_owner == "me" and stored.args == ["x"]


def test_commit_records_steps_and_transition_in_one_go(sqlite_store):
    _create(sqlite_store, _instance())
    wait = Wait("timer", 1, wake_at=T0 + 60)
    sqlite_store.commit(Commit("wf-1", [Step(0, "activity", "a", {"value": 1})],
                               Transition("waiting_for_timer", wait=wait)), "me", T0, T0 + 30)
    instance = sqlite_store.get("wf-1")
    assert (instance.status, instance.wait, instance.lease_owner) == ("waiting_for_timer", wait, None)
    assert sqlite_store.history("wf-1") == [Step(0, "activity", "a", {"value": 1})]
    assert sqlite_store.next_wake() == T0 + 60


def test_commit_by_a_worker_without_the_lease_is_refused(sqlite_store):
    _create(sqlite_store, _instance())
    with pytest.raises(LeaseLost):
        sqlite_store.commit(Commit("wf-1", [Step(0, "activity", "a", {"value": 1})],
                                   Transition("completed", output=1)), "intruder", T0, T0 + 30)
    assert sqlite_store.history("wf-1") == []
    assert sqlite_store.get("wf-1").status == "running"


def test_claim_respects_an_unexpired_lease(sqlite_store):
    _create(sqlite_store, _instance(owner="holder"))
    assert sqlite_store.claim("wf-1", "other", T0 + 10, T0 + 40) is None
    claimed = sqlite_store.claim("wf-1", "other", T0 + 31, T0 + 61)
    assert claimed is not None and claimed[0].lease_owner == "other"


def test_add_event_satisfies_waits_and_ignores_duplicates(sqlite_store):
    _create(sqlite_store, _instance())
    wait = Wait("event", 0, "paid", {"order_id": "A"})
    sqlite_store.commit(Commit("wf-1", [], Transition("waiting_for_event", wait=wait)), "me", T0, T0 + 30)
    other = EventInput("paid", "svc", "e0", {"order_id": "B"})
    assert sqlite_store.add_event(other, T0, None, T0 + 30).delivered == ()
    event = EventInput("paid", "svc", "e1", {"order_id": "A"})
    first = sqlite_store.add_event(event, T0, "me", T0 + 30)
    again = sqlite_store.add_event(event, T0, "me", T0 + 30)
    assert (first.duplicate, first.delivered) == (False, ("wf-1",))
    assert (again.duplicate, again.delivered, again.seq) == (True, (), first.seq)
    assert [(s.seq, s.kind, s.result["id"]) for s in sqlite_store.history("wf-1")] == [(0, "event", "e1")]
    assert sqlite_store.get("wf-1").status == "running"


def test_commit_of_an_event_wait_takes_an_event_that_arrived_meanwhile(sqlite_store):
    _create(sqlite_store, _instance())
    arrived = sqlite_store.add_event(EventInput("paid", "svc", "e1", {"order_id": "A"}), T0, None, T0 + 30)
    assert arrived.delivered == ()  # the instance was still running toward its wait

    wait = Wait("event", 0, "paid", {"order_id": "A"}, wake_at=T0 + 60)
    event = sqlite_store.commit(Commit("wf-1", [], Transition("waiting_for_event", wait=wait)), "me", T0, T0 + 30)

    assert event is not None and event.id == "e1"
    instance = sqlite_store.get("wf-1")
    assert (instance.status, instance.lease_owner, instance.wait) == ("running", "me", None)  # resume at once
    assert [(s.seq, s.kind, s.result["id"]) for s in sqlite_store.history("wf-1")] == [(0, "event", "e1")]


def test_commit_of_an_event_wait_skips_consumed_and_earlier_events(sqlite_store):
    early = sqlite_store.add_event(EventInput("paid", "svc", "before-start", {}), T0, None, T0 + 30)
    _create(sqlite_store, _instance())
    used = sqlite_store.add_event(EventInput("paid", "svc", "used", {}), T0, None, T0 + 30)
    wait = Wait("event", 1, "paid")
    event = sqlite_store.commit(Commit("wf-1", [], Transition("waiting_for_event", wait=wait),
                                       event_floor=sqlite_store.get("wf-1").event_floor,
                                       consumed=frozenset({("svc", "used")})), "me", T0, T0 + 30)
    assert event is None and early.seq < used.seq
    assert sqlite_store.get("wf-1").status == "waiting_for_event"


# -- checkpoints off the commit path ---------------------------------------------------------


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "romancy-checkpoint"]


def test_a_pause_after_writes_copies_the_wal_into_the_database_file(tmp_path: Path):
    path = tmp_path / "ckpt.db"
    store = open_sqlite(str(path))
    try:
        before = path.stat().st_size
        payload = ["x" * 4000]  # ~600 WAL frames in all: below SQLite's own checkpoint mark of 1000
        for n in range(100):
            _create(store, Instance(f"wf-{n}", "wf", "running", payload, {}, T0, T0, lease_owner="me"))
        deadline = time.monotonic() + 10
        while path.stat().st_size < before + 100 * 4000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size >= before + 100 * 4000, "the WAL was not checkpointed after the writes paused"
        assert len(store.list_instances()) == 100
    finally:
        store.close()


def test_reading_starts_no_checkpoint_thread_and_close_stops_it(tmp_path: Path):
    path = tmp_path / "ckpt.db"
    open_sqlite(str(path)).close()
    threads_before = len(_checkpoint_threads())
    store = open_sqlite(str(path))
    store.list_instances()
    store.get("nobody")
    assert len(_checkpoint_threads()) == threads_before  # `romancy status` pays for no thread
    _create(store, _instance())
    assert len(_checkpoint_threads()) == threads_before + 1
    store.close()
    assert len(_checkpoint_threads()) == threads_before


def test_with_synchronous_full_sqlite_checkpoints_itself(tmp_path: Path):
    threads_before = len(_checkpoint_threads())
    store = open_sqlite(str(tmp_path / "full.db"), synchronous="full")
    try:
        _create(store, _instance())
        assert len(_checkpoint_threads()) == threads_before
        assert store.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    finally:
        store.close()


def test_the_engine_queries_read_through_an_index(tmp_path: Path):
    """Each query of a tick or a delivery reads one of the partial indexes or a primary key: none
    reads every instance (the indexes hold only due, waiting and running ones)."""
    store = open_sqlite(str(tmp_path / "plans.db"))
    q = store.q
    queries = {
        "due": (q.due, ("a", "b", 1.0, 10)), "any_due": (q.any_due, ("a", "b", 1.0)),
        "next_wake": (q.next_wake, ("a", "b", "c")), "runnable": (q.runnable, (10,)),
        "match_keys": (q.match_keys, ("w", "t", 5)),
        "waiting_matched": (q.waiting_matched + q.match_clause(True, 1), ("w", "t", 5, "s", "x", "k", "m")),
        "waiting_target": (q.waiting_target, ("i", "w", 5, "s", "x")), "history": (q.history, ("i",)),
    }
    try:
        plans = {name: [row[3] for row in store.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
                 for name, (sql, params) in queries.items()}
    finally:
        store.close()
    # A wait's check that its instance did not take the event's (source, id) before reads that
    # instance's own steps, by their key.
    own_steps = ["CORRELATED SCALAR SUBQUERY 1", "SEARCH s USING PRIMARY KEY (instance_id=?)"]
    for name, plan in plans.items():
        assert plan[1:] in ([], own_steps), (name, plan)
        assert "USING INDEX romancy_instances_" in plan[0] or "USING PRIMARY KEY" in plan[0], (name, plan)
    assert plans["waiting_target"][1:] == plans["waiting_matched"][1:] == own_steps
    assert "romancy_instances_runnable" in plans["runnable"][0]
    assert "romancy_instances_due" in plans["next_wake"][0]


def test_prune_finds_who_consumed_an_event_through_the_index(tmp_path: Path):
    """Prune (and `events --unconsumed`) ask of each event whether a step took it: a lookup in
    the index of event steps, not a scan of it per event (quadratic: 43 s for 10,000 events)."""
    store = open_sqlite(str(tmp_path / "plans.db"))
    try:
        sql = store.q._p(f"SELECT seq FROM romancy_events WHERE seq > ? AND {store._prunable_events()} LIMIT ?")
        plan = [row[3] for row in store.db.execute_sql("EXPLAIN QUERY PLAN " + sql, (0, 9, 1.0, 0, 500)).fetchall()]
    finally:
        store.close()
    assert "SEARCH romancy_steps USING INDEX romancy_steps_event_seq (<expr>=?)" in plan, plan
