"""Fault injection at every commit point, on a real SQLite file and a real PostgreSQL server.

Each scenario is run once without faults, counting the write transactions its operation makes;
then once per transaction N, with transaction N failing just before its commit: SQLite gets the
driver's own "database is locked" raised inside the transaction (the real database rolls it
back), PostgreSQL gets the store's own backend connection terminated (the commit really fails).
For every N: the operation raises StorageFault (HTTP: 503, retryable), the database holds none of
the failed transaction, no instance failed or records the fault, and retrying the operation and
ticking past the lease completes every instance with the fault-free run's history; an activity
runs again only when it was the last one before the fault (README: activities run at least
once, their results are recorded exactly once)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import peewee as pw
import pytest
import requests

from romancy_cli import App, ManualClock, Registry, RetryPolicy, activity, sleep, wait_event, workflow
from romancy_cli.errors import StorageFault
from romancy_cli.http.wsgi import WsgiApp

import pgserver
from cli_helpers import make_project
from conftest import CLOCK_START

registry = Registry()
LEASE = 300.0  # seconds: no lease renewal (every LEASE / 3) writes during a test
TABLES = ("romancy_instances", "romancy_steps", "romancy_events")
FAULT_WORDS = ("OperationalError", "InterfaceError", "StorageFault", "database is locked", "connection lost")
TERMINAL = ("completed", "cancelled")

EFFECTS: list[tuple[str, int]] = []  # (idempotency key, attempt) of every activity execution


@activity("effect", registry=registry)
def effect(ctx: Any, label: str) -> str:
    EFFECTS.append((ctx.idempotency_key, ctx.attempt))
    return label


@activity("slow_effect", registry=registry)
def slow_effect(ctx: Any) -> str:
    """Runs past the grace period (hooks.GRACE), so its new instance is written alone meanwhile."""
    EFFECTS.append((ctx.idempotency_key, ctx.attempt))
    time.sleep(0.3)
    return "slow"


@activity("flaky", registry=registry, retry=RetryPolicy(max_attempts=2, initial_interval=1.0))
def flaky(ctx: Any) -> int:
    EFFECTS.append((ctx.idempotency_key, ctx.attempt))
    if ctx.attempt == 1:
        raise ConnectionError("the first attempt fails")
    return ctx.attempt


@workflow("waiter", registry=registry)
def waiter(ctx: Any) -> str:
    return wait_event(ctx, "go").id


@workflow("effects_first", registry=registry)
def effects_first(ctx: Any) -> str:
    effect.execute(ctx, "a")
    effect.execute(ctx, "b")
    return wait_event(ctx, "go").id


@workflow("slow_first", registry=registry)
def slow_first(ctx: Any) -> str:
    slow_effect.execute(ctx)
    return wait_event(ctx, "go").id


@workflow("then_one", registry=registry)
def then_one(ctx: Any) -> str:
    wait_event(ctx, "go")
    return effect.execute(ctx, "a")


@workflow("then_two", registry=registry)
def then_two(ctx: Any, order: str) -> list:
    wait_event(ctx, "paid", match={"order": order})
    return [effect.execute(ctx, "a"), effect.execute(ctx, "b")]


@workflow("swallower", registry=registry)
def swallower(ctx: Any, order: str) -> str:
    wait_event(ctx, "paid", match={"order": order})
    effect.execute(ctx, "a")
    try:
        return effect.execute(ctx, "b")
    except BaseException:  # the commit before "b" failing must not become this outcome
        return "swallowed"


@workflow("sleeper", registry=registry)
def sleeper(ctx: Any) -> list:
    sleep(ctx, "1m")
    return [effect.execute(ctx, "a"), effect.execute(ctx, "b")]


@workflow("retried", registry=registry)
def retried(ctx: Any) -> int:
    return flaky.execute(ctx)


# -- the database, read from outside the store ----------------------------------------------------


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of the three tables, through a connection of its own."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as conn:
            return {t: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {t}")), key=repr) for t in TABLES}
    conn = sqlite3.connect(url)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def assert_no_fault_recorded(rows: dict[str, list[tuple]]) -> None:
    statuses = [row[2] for row in rows["romancy_instances"]]
    assert "failed" not in statuses, rows["romancy_instances"]
    text = repr(rows)
    assert not [word for word in FAULT_WORDS if word in text], text


# -- the fault injector ------------------------------------------------------------------------------


class Injector:
    """Wraps the store's write transaction (the store boundary): counts those whose body ran, and
    makes number `fail_at` fail just before its commit through `fail`."""

    def __init__(self, store: Any, url: str, fail: Callable[[Any], None], fail_at: Optional[int]) -> None:
        self.store, self.url, self.fail, self.fail_at = store, url, fail, fail_at
        self.count = 0
        self.before: Optional[dict] = None  # the tables just before the failing transaction
        self.effects_before = 0  # activity executions before the fault
        self._original = store._write
        store._write = self._write

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        failing = self.count + 1 == self.fail_at
        if failing:
            self.before, self.effects_before = snapshot(self.url), len(EFFECTS)
        with self._original():
            yield
            self.count += 1
            if failing:
                self.fail(self.store)

    def remove(self) -> None:
        del self.store._write


def locked(store: Any) -> None:
    raise pw.OperationalError("database is locked")


def terminator(admin_url: str) -> Callable[[Any], None]:
    """Terminates the store's own backend, inside the transaction: its commit meets a lost connection."""
    def terminate(store: Any) -> None:
        import psycopg

        pid = store.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(admin_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0]
    return terminate


@dataclass
class Backend:
    name: str
    new_url: Callable[[], str]
    fail: Callable[[Any], None]
    kind: str  # StorageFault.kind the fault surfaces as


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        paths = (str(tmp_path / f"run-{n}.db") for n in range(1000))
        yield Backend("sqlite", lambda: next(paths), locked, "locked")
        return
    admin = request.getfixturevalue("pg_server")
    databases, drops = pgserver.Databases(admin), []

    def new_url() -> str:
        url, drop = databases.create()
        drops.append(drop)
        return url

    yield Backend("postgresql", new_url, terminator(admin), "connection")
    for drop in drops:
        drop()


# -- scenarios ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(app: App) -> Iterator[str]:
    """The CloudEvents endpoint on a real waitress server (no dispatch: the events' runs are left
    to tick, so each request makes one write transaction)."""
    from waitress.server import create_server

    server = create_server(WsgiApp(app), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/"
    finally:  # waitress's loop runs while any channel is open: close them all in its own thread
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: [channel.close() for channel in list(server._map.values())])
        thread.join(10)
        assert not thread.is_alive()


def post_paid(app: App) -> requests.Response:
    event = {"specversion": "1.0", "type": "paid", "source": "test", "id": "ev-h", "data": {"order": "h-1"}}
    with serving(app) as url:
        return requests.post(url, data=json.dumps(event), timeout=30,
                             headers={"Content-Type": "application/cloudevents+json"})


def go(instance_id: str) -> Callable[[App], Any]:
    return lambda app: app.send_event("go", event_id=f"ev-{instance_id}", instance=instance_id)


def nothing(app: App) -> None:
    return None


@dataclass
class Scenario:
    name: str
    setup: Callable[[App], Any]  # before the faults
    act: Callable[[App], Any]  # the walked operation; retried as it is once the fault clears
    finish: Callable[[App], Any] = nothing  # after the retry, so that every instance can complete
    http: bool = False
    # Transactions whose fault the operation outlives: a background write that its next commit
    # repeats (the grace write of a new instance, from the deadline thread).
    survives: tuple[int, ...] = ()


def start_and_retry(app: App) -> None:
    app.start("retried", instance_id="r-1")
    app.tick(advance="5s")


SCENARIOS = [
    Scenario("start_waiting", nothing, lambda app: app.start("waiter", instance_id="s-1"), go("s-1")),
    Scenario("start_activities_first", nothing, lambda app: app.start("effects_first", instance_id="s-2"),
             go("s-2")),
    Scenario("start_slow_first_activity", nothing, lambda app: app.start("slow_first", instance_id="s-3"),
             go("s-3"), survives=(1,)),
    Scenario("targeted_delivery", lambda app: app.start("then_one", instance_id="t-1"), go("t-1")),
    Scenario("broadcast_delivery",
             lambda app: [app.start("then_one", instance_id=i) for i in ("b-1", "b-2")],
             lambda app: app.send_event("go", event_id="ev-b")),
    Scenario("resumed_two_activities", lambda app: app.start("then_two", "m-1", instance_id="m-1"),
             lambda app: app.send_event("paid", {"order": "m-1"}, event_id="ev-m")),
    Scenario("workflow_catches_everything", lambda app: app.start("swallower", "w-1", instance_id="w-1"),
             lambda app: app.send_event("paid", {"order": "w-1"}, event_id="ev-w")),
    Scenario("timer_fires", lambda app: app.start("sleeper", instance_id="z-1"),
             lambda app: app.tick(advance="1m")),
    Scenario("retried_activity", nothing, start_and_retry),
    Scenario("cancel", lambda app: app.start("waiter", instance_id="c-1"), lambda app: app.cancel("c-1")),
    Scenario("http_accept", lambda app: app.start("then_two", "h-1", instance_id="h-1"), post_paid, http=True),
]


# -- one run of a scenario ------------------------------------------------------------------------


@dataclass
class Outcome:
    commits: int  # write transactions the operation made (until the fault)
    final: dict[str, Any]  # instance id -> (status, history) once driven to rest
    effects: Counter = field(default_factory=Counter)  # activity executions
    last_before_fault: Optional[tuple[str, int]] = None


def call_ok(scenario: Scenario, app: App) -> None:
    result = scenario.act(app)
    if scenario.http:
        assert result.status_code == 202, result.text


def call_faulted(scenario: Scenario, app: App, backend: Backend) -> None:
    if scenario.http:
        response = scenario.act(app)
        assert response.status_code == 503, response.text
        assert response.json()["retryable"] is True
        return
    with pytest.raises(StorageFault) as caught:
        scenario.act(app)
    assert caught.value.kind == backend.kind, caught.value


def drive(app: App, clock: ManualClock) -> None:
    """Past every lease (the faulted run's own included), then tick until all is at rest."""
    clock.advance(LEASE + 1)
    for _ in range(4):
        app.tick()
        if all(i.status in TERMINAL for i in app.list_instances()):
            return


def final_state(app: App) -> dict[str, Any]:
    return {i.instance_id: (i.status, i.output, [(s.seq, s.kind, s.name, s.result if s.kind == "activity" else None)
                                                 for s in app.history(i.instance_id)])
            for i in app.list_instances()}


def run(scenario: Scenario, backend: Backend, fail_at: Optional[int] = None) -> Outcome:
    EFFECTS.clear()
    url, clock = backend.new_url(), ManualClock(CLOCK_START)
    with App(database=url, worker_id="faulty", clock=clock, registry=registry, lease_seconds=LEASE) as app:
        scenario.setup(app)
        injector = Injector(app.store, url, backend.fail, fail_at)
        if fail_at is None:
            call_ok(scenario, app)
        elif fail_at in scenario.survives:
            call_ok(scenario, app)
            assert injector.count > fail_at  # a later commit wrote what the failed one did not
        else:
            call_faulted(scenario, app, backend)
            after = snapshot(url)
            assert after == injector.before, f"transaction {fail_at} left part of itself behind"
            assert_no_fault_recorded(after)
        injector.remove()
        if fail_at is not None:
            call_ok(scenario, app)  # the fault has cleared: the caller retries
        scenario.finish(app)
        drive(app, clock)
        assert_no_fault_recorded(snapshot(url))
        last = EFFECTS[injector.effects_before - 1] if injector.effects_before else None
        return Outcome(injector.count, final_state(app), Counter(EFFECTS), last)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_fault_at_every_commit_point_stops_cleanly_and_recovers(scenario: Scenario, backend: Backend) -> None:
    reference = run(scenario, backend)
    assert reference.commits >= 1
    assert {status for status, _, _ in reference.final.values()} <= set(TERMINAL)
    for n in range(1, reference.commits + 1):
        outcome = run(scenario, backend, fail_at=n)
        assert outcome.final == reference.final, f"fault at transaction {n}"
        again = outcome.effects - reference.effects
        allowed = Counter([outcome.last_before_fault]) if outcome.last_before_fault else Counter()
        assert again <= allowed, f"fault at transaction {n}: activities ran again: {again}"
        assert not reference.effects - outcome.effects, f"fault at transaction {n}: an activity never ran"


def test_the_walk_covers_every_commit_point_of_each_scenario(tmp_path: Path) -> None:
    """The number of commit points walked per scenario (README "Benchmarks": where the time goes)."""
    paths = (str(tmp_path / f"count-{n}.db") for n in range(100))
    sqlite = Backend("sqlite", lambda: next(paths), locked, "locked")
    counts = {s.name: run(s, sqlite).commits for s in SCENARIOS}
    assert counts == {"start_waiting": 1, "start_activities_first": 2, "start_slow_first_activity": 2,
                      "targeted_delivery": 2,
                      "broadcast_delivery": 3, "resumed_two_activities": 3, "workflow_catches_everything": 3, "timer_fires": 3,
                      "retried_activity": 3, "cancel": 1, "http_accept": 1}


# -- SIGKILL at random points of real `romancy send-event` and `romancy tick` processes ---------------

KILLED_WORKFLOWS = '''
import os
import time
from romancy_cli import activity, sleep, wait_event, workflow

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "effects.log")


@activity
def note(ctx, label: str) -> str:
    with open(LOG, "a") as log:
        log.write(ctx.idempotency_key + "\\n")
    time.sleep(0.02)  # a side effect that takes a while: kills land between it and its record
    return label


@workflow
def paid_then_nap(ctx, order: str) -> str:
    wait_event(ctx, "kill.paid", match={"order": order})
    note.execute(ctx, "paid")
    sleep(ctx, "1m")
    note.execute(ctx, "rested")
    return order
'''
ORDERS = [f"O{n}" for n in range(20)]
KILL_WINDOW = 0.08  # seconds after the process opened the database: about its life from there


def opened(pid: int, path: Path) -> bool:
    """Whether process `pid` has the database file open (False once it has exited)."""
    folder = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in folder.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_midway(project: Any, rng: random.Random, *args: str) -> bool:
    """Run `romancy ARGS`, SIGKILL it a random moment after it opened the database; True when
    the signal ended it (False: it had finished first)."""
    proc = project.popen(*args)
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and not opened(proc.pid, project.db.resolve()):
            assert time.monotonic() < deadline, "the command never opened the database"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, KILL_WINDOW))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)
    return proc.returncode == -signal.SIGKILL


def paid_event(order: str) -> list[str]:
    return ["send-event", "kill.paid", "--data", json.dumps({"order": order}), "--id", f"ev-{order}"]


def tick_until_completed(project: Any) -> None:
    for advance in ("10m", "1h", "1d"):
        assert project.run("tick", "--advance", advance).code == 0
        if {status for (status,) in project.rows("SELECT status FROM romancy_instances")} == {"completed"}:
            return


def test_sigkilled_send_event_and_tick_lose_nothing_and_record_each_step_once(tmp_path: Path) -> None:
    project, rng = make_project(tmp_path), random.Random(20231114)
    project.write("workflows.py", KILLED_WORKFLOWS)
    ids = [project.run("start", "paid_then_nap", order, "--id", f"k-{order}").stdout.strip() for order in ORDERS]
    assert ids == [f"k-{order}" for order in ORDERS]
    killed = sum(kill_midway(project, rng, *paid_event(order)) for order in ORDERS)
    killed += sum(kill_midway(project, rng, "tick", "--advance", "2m") for _ in range(20))
    assert killed >= 1
    for order in ORDERS:  # the sender retries what it did not see acknowledged: a duplicate is harmless
        assert project.run(*paid_event(order)).code == 0
    tick_until_completed(project)

    assert project.rows("SELECT DISTINCT status FROM romancy_instances") == [("completed",)]
    events = project.rows("SELECT event_id, count(*) FROM romancy_events GROUP BY source, event_id")
    assert sorted(events) == sorted((f"ev-{order}", 1) for order in ORDERS)
    steps = project.rows("SELECT instance_id, seq, kind, count(*) FROM romancy_steps GROUP BY instance_id, seq")
    assert sorted(steps) == sorted((i, seq, kind, 1) for i in ids
                                   for seq, kind in enumerate(("event", "activity", "timer", "activity")))
    runs = Counter((project.root / "effects.log").read_text().split())
    assert set(runs) == {f"{i}/{seq}:note" for i in ids for seq in (1, 3)}
    assert max(runs.values()) <= 1 + killed  # at least once; again only after a kill
