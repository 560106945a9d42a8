"""continue_as_new: a run ends and its workflow starts afresh with new input and an empty history,
under a new id linked to the old one, in one transaction; the process that ran it runs the new
one at once; events sent in the gap between the two runs are taken by the new one."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from romancy_cli import App, ManualClock, Registry, continue_as_new, sleep, wait_event, workflow
from romancy_cli.errors import StorageFault

from cli_helpers import make_project
from conftest import CLOCK_START
from test_faults import Injector, locked, snapshot, terminator

registry = Registry()
LEASE = 300.0  # seconds: no lease renewal writes during a walked fault


@workflow("counter", registry=registry)
def counter(ctx: Any, total: int) -> None:
    event = wait_event(ctx, "add")
    continue_as_new(ctx, total + event.data["n"])


@workflow("napper", registry=registry)
def napper(ctx: Any, taken: list) -> None:
    if taken:  # every run after the first naps before it waits: events sent meanwhile must wait for it
        sleep(ctx, "1m")
    event = wait_event(ctx, "add")
    continue_as_new(ctx, taken + [event.id])


@workflow("dawdler", registry=registry)
def dawdler(ctx: Any, taken: list) -> None:
    event = wait_event(ctx, "add")
    sleep(ctx, "1m")  # events sent meanwhile arrive before this run ends: the next run takes them
    continue_as_new(ctx, taken + [event.id])


@workflow("async_counter", registry=registry)
async def async_counter(ctx: Any, total: int) -> None:
    event = await wait_event(ctx, "add")
    await continue_as_new(ctx, total + event.data["n"])


CONTINUES_AFTER_THE_EVENT = [False]  # the code change of a test: continue where a sleep was recorded


@workflow("changed", registry=registry)
def changed(ctx: Any) -> None:
    wait_event(ctx, "add")
    if CONTINUES_AFTER_THE_EVENT[0]:
        continue_as_new(ctx)
    sleep(ctx, "1m")


@workflow("bad_continuation", registry=registry)
def bad_continuation(ctx: Any, total: int) -> None:
    continue_as_new(ctx, "not a number")


def chain(app: App, first: str) -> list[Any]:
    """The runs of a chain, oldest first, followed through continued_as."""
    runs = [app.get(first)]
    while runs[-1].continued_as is not None:
        runs.append(app.get(runs[-1].continued_as))
    return runs


def loop(app: App, iterations: int) -> float:
    """Start a counter and continue it `iterations` times; the seconds the events took."""
    current = counter.start(app, 0)
    started = time.monotonic()
    for n in range(iterations):
        assert app.send_event("add", {"n": 1}, event_id=f"add-{n}").resumed == {current: "continued_as_new"}
        current = app.get(current).continued_as
    elapsed = time.monotonic() - started
    assert len(app.list_instances(workflow="counter")) == iterations + 1
    newest = app.get(current)
    assert (newest.status, newest.args) == ("waiting_for_event", [iterations])
    assert app.history(current) == []  # a fresh history: nothing recorded before its wait
    before = app.get(newest.continued_from)
    assert [s.kind for s in app.history(before.instance_id)] == ["event"]  # one event, then it continued
    assert before.continued_as == current and before.output is None
    return elapsed


def test_a_thousand_continuations_keep_the_newest_history_short_in_bounded_time(sqlite_app: App) -> None:
    assert loop(sqlite_app, 1000) < 60  # about 1 s measured: each continuation reads no older run
    assert [i.args for i in chain(sqlite_app, sqlite_app.list_instances()[-1].instance_id)[-3:]] == [
        [998], [999], [1000]]


def test_continuations_on_postgresql(pg_url: str) -> None:
    with App(database=pg_url, worker_id="pg", clock=ManualClock(CLOCK_START), registry=registry) as app:
        assert loop(app, 100) < 60
        assert len(app.list_instances(status="continued_as_new")) == 100


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "romancy.db")
    return str(request.getfixturevalue("pg_url"))


def test_an_event_sent_between_two_runs_is_taken_by_the_new_one(database: str) -> None:
    clock = ManualClock(CLOCK_START)
    with App(database=database, worker_id="gap", clock=clock, registry=registry) as app:
        first = napper.start(app, [])
        app.send_event("add", event_id="before")  # the first run takes it and continues
        second = app.get(first).continued_as
        assert app.get(second).status == "waiting_for_timer"  # napping: not waiting for events yet
        app.send_event("add", event_id="in-the-gap")
        clock.advance(61)
        app.tick()
        runs = chain(app, first)
        assert [r.status for r in runs] == ["continued_as_new", "continued_as_new", "waiting_for_timer"]
        assert runs[2].args == [["before", "in-the-gap"]]  # taken once each, in order, none lost


def test_an_event_the_old_run_left_after_its_last_one_is_taken_by_the_new_one(database: str) -> None:
    clock = ManualClock(CLOCK_START)
    with App(database=database, worker_id="late", clock=clock, registry=registry) as app:
        first = dawdler.start(app, [])
        app.send_event("add", event_id="taken")
        app.send_event("add", event_id="left")  # the first run sleeps: it never takes this one
        for _ in range(2):
            clock.advance(61)
            app.tick()
        assert [(r.status, r.args) for r in chain(app, first)] == [
            ("continued_as_new", [[]]), ("continued_as_new", [["taken"]]), ("waiting_for_event", [["taken", "left"]])]


def test_continued_input_is_checked_like_a_start(sqlite_app: App) -> None:
    failed = sqlite_app.get(bad_continuation.start(sqlite_app, 1))
    assert failed.status == "failed" and failed.continued_as is None
    assert failed.error is not None and "total='not a number' is not a valid int" in failed.error["message"]
    assert len(sqlite_app.list_instances()) == 1


def test_an_async_workflow_continues_as_new(sqlite_app: App) -> None:
    first = async_counter.start(sqlite_app, 1)
    assert sqlite_app.send_event("add", {"n": 5}).resumed == {first: "continued_as_new"}
    runs = chain(sqlite_app, first)
    assert [(r.status, r.args) for r in runs] == [("continued_as_new", [1]), ("waiting_for_event", [6])]


def test_continuing_where_history_goes_on_parks_the_run_and_starts_nothing(sqlite_app: App) -> None:
    CONTINUES_AFTER_THE_EVENT[0] = False
    iid = changed.start(sqlite_app)
    sqlite_app.send_event("add")  # recorded: the event, then the sleep
    CONTINUES_AFTER_THE_EVENT[0] = True
    try:
        assert sqlite_app.tick(advance="1m").resumed == {iid: "parked"}
    finally:
        CONTINUES_AFTER_THE_EVENT[0] = False
    parked = sqlite_app.get(iid)
    assert parked.continued_as is None and len(sqlite_app.list_instances()) == 1
    assert parked.error is not None and parked.parked
    assert "history recorded timer 'sleep' but the code now calls continue_as_new 'changed'" in parked.error["message"]


# -- through the `romancy` executable -------------------------------------------------------------

COUNTER = """
from romancy_cli import continue_as_new, wait_event, workflow


@workflow
def counter(ctx, total: int) -> None:
    event = wait_event(ctx, "add")
    continue_as_new(ctx, total + event.data["n"])
"""


def test_the_chain_is_shown_by_status_listed_by_its_status_and_pruned(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("workflows.py", COUNTER)
    old = project.run("start", "counter", "0").stdout.strip()
    sent = project.run("send-event", "add", "--data", '{"n": 2}', "--json").json
    assert sent["resumed"] == [{"instance_id": old, "status": "continued_as_new"}]
    ended = project.run("status", old, "--json").json
    new = ended["continued_as"]
    assert (ended["status"], ended["continued_from"], ended["output"]) == ("continued_as_new", None, None)
    assert new.startswith("counter-") and new != old
    running = project.run("status", new, "--json").json
    assert (running["status"], running["input"]["args"]) == ("waiting_for_event", [2])
    assert (running["continued_from"], running["continued_as"]) == (old, None)
    assert f"continued as    {new}" in project.run("status", old).stdout
    assert f"continued from  {old}" in project.run("status", new).stdout
    listed = project.run("status", "--status", "continued_as_new", "--json").json
    assert [i["instance_id"] for i in listed] == [old]
    assert project.run("prune", "--completed-before", "0s", "--json").json["instances"] == 1
    assert [i["instance_id"] for i in project.run("status", "--json").json] == [new]


# -- a fault at the commit that ends one run and inserts the next ------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Callable[[Any], None]]:
    """A database URL and how to make a write transaction of its store fail before its commit."""
    if request.param == "sqlite":
        return str(tmp_path / "faulty.db"), locked
    return str(request.getfixturevalue("pg_url")), terminator(request.getfixturevalue("pg_server"))


def ended_without_successor(url: str) -> list[str]:
    """Runs that continued as new while the run they continued as does not exist, or does not
    link back: what one transaction for both rules out."""
    rows = snapshot(url)["romancy_instances"]
    instances = [dict(zip(_instance_columns(url), row)) for row in rows]
    by_id = {i["instance_id"]: i for i in instances}
    return [i["instance_id"] for i in instances if i["status"] == "continued_as_new"
            and by_id.get(i["continued_as"], {}).get("continued_from") != i["instance_id"]]


def _instance_columns(url: str) -> list[str]:
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as conn:
            return [d.name for d in conn.execute("SELECT * FROM romancy_instances LIMIT 0").description]
    conn = sqlite3.connect(url)
    try:
        return [d[0] for d in conn.execute("SELECT * FROM romancy_instances LIMIT 0").description]
    finally:
        conn.close()


def send_counting(url: str, fail: Callable[[Any], None], fail_at: Optional[int]) -> int:
    """Start a counter and send the event that makes it continue, with write transaction
    `fail_at` failing just before its commit (none: count them). After a fault: nothing of that
    transaction is stored, no run ended without its successor, and once the caller retries and
    a tick recovers what the fault stopped, the chain is whole. Returns the transactions counted."""
    clock = ManualClock(CLOCK_START)
    with App(database=url, worker_id="faulty", clock=clock, registry=registry, lease_seconds=LEASE) as app:
        first = counter.start(app, 0, instance_id="count-1")
        injector = Injector(app.store, url, fail, fail_at)
        if fail_at is None:
            app.send_event("add", {"n": 1}, event_id="one")
        else:
            with pytest.raises(StorageFault):
                app.send_event("add", {"n": 1}, event_id="one")
            assert snapshot(url) == injector.before, f"transaction {fail_at} left part of itself behind"
            assert ended_without_successor(url) == []
            ended = app.get(first).status == "continued_as_new"  # type: ignore[union-attr]
            assert len(app.list_instances()) == (2 if ended else 1)  # the successor exists iff it ended
        injector.remove()
        app.send_event("add", {"n": 1}, event_id="one")  # the caller retries: a duplicate once stored
        clock.advance(LEASE + 1)
        app.tick()  # recovers a successor whose own run the fault stopped
        runs = chain(app, first)
        assert [(r.status, r.args) for r in runs] == [("continued_as_new", [0]), ("waiting_for_event", [1])]
        assert runs[1].continued_from == first and ended_without_successor(url) == []
        return injector.count


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_fault_at_either_commit_never_leaves_a_run_ended_without_its_successor(
        faulty: tuple[str, Callable[[Any], None]], fail_at: int) -> None:
    """Transaction 1 ends the old run and inserts the new one (so they cannot be seen apart),
    transaction 2 records the new run's wait; the walk covers both."""
    send_counting(*faulty, fail_at=fail_at)


def test_continuing_takes_one_transaction_and_the_new_run_s_wait_one_more(
        faulty: tuple[str, Callable[[Any], None]]) -> None:
    assert send_counting(*faulty, fail_at=None) == 2
