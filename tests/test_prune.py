"""What `prune` keeps and deletes, on a real SQLite file and a real PostgreSQL server (App) and
through the installed `romancy` executable: event numbers are never handed out twice, every
status that has not ended (and a failed one) holds the events after its floor it has not taken,
an event stays consumed once its consumer is pruned, an instance never takes a (source, id)
twice, and a prune racing deliver-or-start sends loses none of their events."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli_helpers import Project, make_project
from romancy_cli import (App, ManualClock, Registry, RetryPolicy, activity, compensate, continue_as_new, sleep,
                         wait_event, workflow)
from romancy_cli.records import COMPLETED, FAILED, WAITING_FOR_EVENT
from romancy_cli.store.schema import SCHEMA_VERSION

registry = Registry()
LATER = 3600.0  # a prune cutoff this far ahead takes every event old enough: all of them


@workflow("pr_waiter", registry=registry)
def waiter(ctx: Any, key: str, event_type: str = "pr.go") -> str:
    return wait_event(ctx, event_type, match={"key": key}).id


@workflow("pr_any", registry=registry)
def any_go(ctx: Any, nap: float) -> str:
    event = wait_event(ctx, "pr.all")  # no match: one event satisfies every such wait
    sleep(ctx, nap)
    return event.id


OTHER: dict[str, str] = {}  # the database the undo below writes to, as another worker would


@activity("pr_undo", registry=registry)
def undo(ctx: Any, result: str, key: str) -> None:
    # Its instance is stored `compensating` while this runs: the event it waits for next
    # arrives now, and a prune of every old event runs, both from another App.
    with App(database=OTHER["url"], worker_id="other", registry=registry) as other:
        other.send_event("pr.after", {"key": key}, event_id="after")
        other.prune(None, time.time() + LATER)


@activity("pr_book", compensate=undo, registry=registry)
def book(ctx: Any, key: str) -> str:
    return f"B-{key}"


@workflow("pr_saga", registry=registry)
def saga(ctx: Any, key: str) -> str:
    book.execute(ctx, key)
    compensate(ctx)
    return wait_event(ctx, "pr.after", match={"key": key}).id


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "romancy.db") if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
def app(url: str) -> Iterator[App]:
    with App(database=url, worker_id="pr", registry=registry) as opened:
        yield opened


def _seqs(app: App) -> list[int]:
    return [logged.event.seq for logged in app.list_events()]


def test_event_numbers_are_never_handed_out_again_after_prune(app: App) -> None:
    for n in range(3):
        app.send_event("pr.noise", event_id=f"n{n}")
    newest = max(_seqs(app))
    iid = app.start("pr_waiter", "k")
    assert app.prune(None, time.time() + LATER).events == 3
    app.send_event("pr.go", {"key": "k"}, event_id="go", resume=False)
    assert _seqs(app) == [newest + 1]
    assert app.tick().resumed == {iid: COMPLETED}
    assert app.get(iid).output == "go"


def test_a_compensating_instance_keeps_the_event_it_waits_for_next(app: App, url: str) -> None:
    OTHER["url"] = url
    iid = app.start("pr_saga", "k")
    assert app.get(iid).status == COMPLETED and app.get(iid).output == "after"
    assert [(e.event.id, e.consumed_by) for e in app.list_events()] == [("after", (iid,))]


def test_an_event_stays_consumed_once_its_consumer_is_pruned(app: App) -> None:
    done = app.start("pr_waiter", "k1")
    holder = app.start("pr_waiter", "k2")  # waits on: it may take the event, as far as prune knows
    app.send_event("pr.go", {"key": "k1"}, event_id="hit")
    assert app.get(done).status == COMPLETED
    assert app.prune(time.time() + LATER, None).instances == 1
    assert [(e.event.id, e.consumed_by) for e in app.list_events()] == [("hit", (done,))]
    assert app.list_events(unconsumed=True) == []
    assert app.prune(None, time.time() + LATER, dry_run=True).events == 0
    assert app.prune(None, time.time() + LATER).events == 0  # kept for the holder
    app.cancel(holder)
    assert app.prune(None, time.time() + LATER, dry_run=True).events == 1
    assert app.prune(None, time.time() + LATER).events == 1
    assert app.list_events() == []


def test_consumers_pruned_at_different_times_are_all_kept(url: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    with App(database=url, worker_id="pr", registry=registry, clock=clock) as app:
        first, second = app.start("pr_any", 0), app.start("pr_any", 3600)
        app.send_event("pr.all", event_id="all")
        app.tick()
        assert app.get(first).status == COMPLETED and app.get(second).status == "waiting_for_timer"
        assert app.prune(clock.now() + 1, None).instances == 1
        assert app.list_events()[0].consumed_by == tuple(sorted((first, second)))
        clock.advance("2h")
        assert app.tick().resumed == {second: COMPLETED}
        assert app.prune(clock.now() + 1, None).instances == 1
        assert app.list_events()[0].consumed_by == tuple(sorted((first, second)))


# -- an event is kept while a live instance may still take it ----------------------------------

@workflow("pr_late", registry=registry)
def late(ctx: Any, nap: float) -> str:
    sleep(ctx, nap)  # started before the event, it waits for it only after this
    return wait_event(ctx, "pr.late").id


BROKEN: set[str] = set()  # keys whose pr_flaky activity fails (healed before a retry)


@activity("pr_flaky", registry=registry, retry=RetryPolicy(max_attempts=1))
def flaky(ctx: Any, key: str) -> str:
    if key in BROKEN:
        raise ConnectionError(f"{key} is broken")
    return key


@workflow("pr_failing", registry=registry)
def failing(ctx: Any, key: str) -> str:
    flaky.execute(ctx, key)
    return wait_event(ctx, "pr.late").id


@workflow("pr_twice", registry=registry)
def twice(ctx: Any) -> list:
    return [wait_event(ctx, "pr.two").id, wait_event(ctx, "pr.two").id]


@workflow("pr_again", registry=registry)
def again(ctx: Any, run: int) -> str:
    if run == 0:
        wait_event(ctx, "pr.late")
        continue_as_new(ctx, 1)
    sleep(ctx, 30)  # the next run waits only after this
    return wait_event(ctx, "pr.late").id


@pytest.fixture
def clocked(url: str) -> Iterator[tuple[App, ManualClock]]:
    clock = ManualClock(1_700_000_000.0)
    with App(database=url, worker_id="pr", registry=registry, clock=clock) as opened:
        yield opened, clock


def test_an_event_one_instance_took_is_kept_for_an_older_one_that_has_not_yet(clocked: tuple[App, ManualClock]) -> None:
    app, clock = clocked
    sleeper, quick = app.start("pr_late", 30), app.start("pr_late", 0)
    app.send_event("pr.late", event_id="x")
    assert app.get(quick).status == COMPLETED
    clock.advance(1)
    assert app.prune(None, clock.now(), dry_run=True).events == 0
    assert app.prune(None, clock.now()).events == 0
    clock.advance(30)
    assert app.tick().resumed == {sleeper: COMPLETED}
    assert app.get(sleeper).output == "x"
    assert app.prune(None, clock.now()).events == 1  # every live instance that could take it did


def test_a_continued_run_keeps_the_events_after_those_its_first_run_took(clocked: tuple[App, ManualClock]) -> None:
    app, clock = clocked
    first = app.start("pr_again", 0)
    app.send_event("pr.late", event_id="x")  # the first run takes it and continues as new
    successor = app.get(first).continued_as
    quick = app.start("pr_late", 0)
    app.send_event("pr.late", event_id="y")  # taken by `quick`; the successor, asleep, will take it
    assert app.get(quick).output == "y"
    clock.advance(1)
    assert app.prune(None, clock.now()).events == 1  # x: taken by every run that may take it
    assert [logged.event.id for logged in app.list_events()] == ["y"]
    clock.advance(30)
    assert app.tick().resumed == {successor: COMPLETED}
    assert app.get(successor).output == "y"


def test_a_failed_instance_keeps_the_events_it_may_take_once_retried(clocked: tuple[App, ManualClock]) -> None:
    app, clock = clocked
    BROKEN.add("f")
    failed, other = app.start("pr_failing", "f"), app.start("pr_late", 0)
    assert app.get(failed).status == FAILED
    app.send_event("pr.late", event_id="x")
    assert app.get(other).status == COMPLETED
    clock.advance(1)
    assert app.prune(None, clock.now()).events == 0
    BROKEN.discard("f")
    assert app.retry(failed) == COMPLETED
    assert app.get(failed).output == "x"


@pytest.mark.parametrize("targeted", [False, True])
def test_an_instance_never_takes_a_pruned_event_sent_again(clocked: tuple[App, ManualClock], targeted: bool) -> None:
    app, clock = clocked
    iid = app.start("pr_twice")
    target = iid if targeted else None
    app.send_event("pr.two", event_id="x", instance=target)
    clock.advance(1)
    assert app.prune(None, clock.now()).events == 1
    assert app.send_event("pr.two", event_id="x", instance=target).duplicate is False  # forgotten: stored anew
    assert app.get(iid).status == WAITING_FOR_EVENT
    app.send_event("pr.two", event_id="y", instance=target)
    assert app.get(iid).status == COMPLETED and app.get(iid).output == ["x", "y"]


# -- migration to schema 10 ---------------------------------------------------------------------

# Versions 8 and 9's table of events on SQLite: without AUTOINCREMENT, without consumed_by.
V8_EVENTS = ('CREATE TABLE "romancy_events" ("seq" INTEGER NOT NULL PRIMARY KEY, "source" VARCHAR(255) NOT NULL, '
             '"event_id" VARCHAR(255) NOT NULL, "type" VARCHAR(255) NOT NULL, "subject" TEXT, "time" VARCHAR(255), '
             '"data" TEXT, "data_content_type" VARCHAR(255), "data_schema" TEXT, "extensions" TEXT, '
             '"target" VARCHAR(255), "received_at" REAL NOT NULL)')
V8_INDEXES = ('CREATE UNIQUE INDEX "romancy_events_source_event_id" ON "romancy_events" ("source", "event_id")',
              'CREATE INDEX "romancy_events_type_seq" ON "romancy_events" ("type", "seq")')
EVENT_COLUMNS = ("seq, source, event_id, type, subject, time, data, data_content_type, data_schema, extensions, "
                 "target, received_at")


def _as_version_8(app: App, sqlite: bool) -> None:
    """The events table of versions 8 and 9, after a prune that deleted the newest events."""
    db = app.store.db  # type: ignore[attr-defined]
    with db.atomic():
        db.execute_sql("DELETE FROM romancy_events")
        if sqlite:
            db.execute_sql('DROP TABLE "romancy_events"')
            db.execute_sql("DELETE FROM sqlite_sequence")
            for statement in (V8_EVENTS, *V8_INDEXES):
                db.execute_sql(statement)
        else:
            db.execute_sql('ALTER TABLE "romancy_events" DROP COLUMN "consumed_by"')
        db.execute_sql("UPDATE romancy_meta SET value = '9' WHERE key = 'schema_version'")


def test_a_version_9_database_numbers_new_events_after_every_number_it_ever_gave(url: str) -> None:
    sqlite = not url.startswith("postgresql")
    with App(database=url, worker_id="v8", registry=registry) as app:
        app.send_event("pr.noise", event_id="n1")
        done = app.start("pr_waiter", "k1")
        app.send_event("pr.go", {"key": "k1"}, event_id="hit")  # seq 2, recorded in done's history
        waiting = app.start("pr_waiter", "k2")
        _as_version_8(app, sqlite)
    with App(database=url, worker_id="v9", registry=registry) as app:
        db = app.store.db  # type: ignore[attr-defined]
        assert db.execute_sql("SELECT value FROM romancy_meta WHERE key = 'schema_version'").fetchone()[0] == \
            str(SCHEMA_VERSION)
        if sqlite:
            tables = dict(db.execute_sql("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'romancy_events'"))
            assert "AUTOINCREMENT" in tables["romancy_events"]
            assert {"romancy_events_source_event_id", "romancy_events_type_seq"} <= set(tables)
        app.send_event("pr.go", {"key": "k2"}, event_id="late")
        assert [(e.event.id, e.event.seq, e.consumed_by) for e in app.list_events()] == [("late", 3, (waiting,))]
        assert app.get(waiting).output == "late" and app.get(done).output == "hit"


# -- through the CLI ----------------------------------------------------------------------------

CLI_WORKFLOWS = '''
from romancy_cli import wait_event, workflow


@workflow
def waiter(ctx, key: str) -> str:
    return wait_event(ctx, "go", match={"key": key}).id
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", CLI_WORKFLOWS)
    return proj


def _run(project: Project, *args: str) -> str:
    result = project.run(*args)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def test_cli_an_event_sent_after_a_prune_reaches_the_instance_started_before_it(project: Project) -> None:
    for n in range(3):
        _run(project, "send-event", "noise", "--id", f"n{n}")
    iid = _run(project, "start", "waiter", "k")
    _run(project, "prune", "--events-before", "0s")
    sent = project.run("send-event", "go", "--id", "g", "--data", '{"key": "k"}', "--no-resume")
    assert "received before the instance started" not in sent.stderr
    _run(project, "tick")
    assert project.status_of(iid) == COMPLETED


def test_cli_a_new_event_is_not_shown_consumed_by_a_pruned_events_consumer(project: Project) -> None:
    done = _run(project, "start", "waiter", "k1")
    _run(project, "send-event", "go", "--id", "hit", "--data", '{"key": "k1"}')
    _run(project, "prune", "--events-before", "0s")  # `hit` was consumed: deleted
    _run(project, "send-event", "noise", "--id", "fresh")
    events = [(e["id"], e["consumed_by"]) for e in project.run("--json", "events").json]
    assert events == [("fresh", [])], done


def test_cli_prune_keeps_a_consumed_event_while_a_live_instance_has_not_taken_it(project: Project) -> None:
    done = _run(project, "start", "waiter", "k1")
    holder = _run(project, "start", "waiter", "k2")  # started before `hit`: it may take it, as far as prune knows
    _run(project, "send-event", "go", "--id", "hit", "--data", '{"key": "k1"}')
    assert project.status_of(done) == COMPLETED
    pruned = project.run("--json", "prune", "--completed-before", "0s", "--events-before", "0s")
    assert pruned.json == {"instances": 1, "steps": 1, "events": 0, "dry_run": False}
    assert [e["id"] for e in project.run("--json", "events").json] == ["hit"]
    _run(project, "cancel", holder)
    pruned = project.run("--json", "prune", "--completed-before", "0s", "--events-before", "0s")
    assert pruned.json == {"instances": 1, "steps": 0, "events": 1, "dry_run": False}
    assert project.run("--json", "events").json == []


# -- prune racing deliver-or-start (PostgreSQL: READ COMMITTED, several writers at once) --------

SENDERS, SENDS = 3, 100


def test_prune_racing_deliver_or_start_loses_no_event(pg_url: str) -> None:
    with App(database=pg_url, worker_id="setup", registry=registry):
        pass  # the schema, once
    done = threading.Event()
    pruned: list[int] = []

    def prune_until_done() -> None:
        with App(database=pg_url, worker_id="pruner", registry=registry) as app:
            while not done.is_set():
                pruned.append(app.prune(None, time.time() + LATER).events)

    def send(first: int) -> None:
        # A type per sender: events of one type are stored one at a time, of several types at once,
        # so their numbers are not in the order they commit.
        event_type = f"pr.go.{first}"
        with App(database=pg_url, worker_id=f"sender-{first}", registry=registry) as app:
            for n in range(first, first + SENDS):
                app.send_event(event_type, {"key": f"k{n}"}, event_id=f"e{n}", instance=f"r-{n}",
                               start_workflow="pr_waiter", kwargs={"key": f"k{n}", "event_type": event_type})

    pruner = threading.Thread(target=prune_until_done)
    pruner.start()
    senders = [threading.Thread(target=send, args=(s * SENDS,)) for s in range(SENDERS)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    done.set()
    pruner.join()
    with App(database=pg_url, worker_id="check", registry=registry) as app:
        outputs = {i.instance_id: i.output for i in app.list_instances()}
    assert outputs == {f"r-{n}": f"e{n}" for n in range(SENDERS * SENDS)}
    assert sum(pruned) > 0  # the prunes did delete events meanwhile: consumed ones
