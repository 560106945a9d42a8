"""Leases and races (README "PostgreSQL and several workers"): crashed workers are recovered,
concurrent workers resume once.

The crash and race tests use real processes on one SQLite file (tests/workflows_fixture_runner.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from romancy_cli import App, Registry, activity, workflow
from romancy_cli.engine.leases import owner_is_dead, owner_token

registry = Registry()  # this module's workflows, so their names need only be unique here

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workflows_fixture as fx  # noqa: E402

RUNNER = str(HERE / "workflows_fixture_runner.py")
CALLS: list[str] = []


class SimulatedCrash(BaseException):
    """Escapes everything, like a process dying mid-activity: the instance stays leased."""


CRASH_ONCE: list[bool] = []


@activity("work", registry=registry)
def work(ctx) -> str:
    CALLS.append("work")
    if CRASH_ONCE:
        CRASH_ONCE.pop()
        raise SimulatedCrash()
    return "done"


@workflow("job", registry=registry)
def job(ctx) -> str:
    return work.execute(ctx)


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    CRASH_ONCE.clear()


def _crashed_instance(path: str, clock, worker: str = "w1") -> str:
    """Start `job` under `worker` and crash inside its activity; returns the instance id."""
    CRASH_ONCE.append(True)
    with App(database=path, worker_id=worker, clock=clock, registry=registry) as crashed:
        with pytest.raises(SimulatedCrash):
            crashed.start("job", instance_id="job-1")
    return "job-1"


def _set_lease_owner(path: str, owner: str) -> None:
    """Rewrite who holds the lease: the stand-in for a worker we cannot start here (dead, remote)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE romancy_instances SET lease_owner = ?", (owner,))
        conn.commit()
    finally:
        conn.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer exists (not even as a zombie)
    return child.pid


def test_owner_token_names_host_and_pid():
    token = owner_token("w")
    assert token == f"{socket.gethostname()}:{os.getpid()}:w"
    assert not owner_is_dead(token)
    assert owner_is_dead(f"{socket.gethostname()}:{_dead_pid()}:w")
    assert not owner_is_dead(f"another-host.example:{_dead_pid()}:w")  # cannot tell: wait for expiry


def test_lease_of_dead_pid_on_this_host_recovered_by_tick_at_once(sqlite_path, manual_clock, sqlite_rows):
    instance_id = _crashed_instance(sqlite_path, manual_clock)
    assert sqlite_rows("SELECT status, lease_until FROM romancy_instances") == [
        ("running", manual_clock.now() + 30)]
    _set_lease_owner(sqlite_path, f"{socket.gethostname()}:{_dead_pid()}:w1")  # held by a process now gone

    with App(database=sqlite_path, worker_id="w2", clock=manual_clock, registry=registry) as recoverer:
        assert recoverer.tick().resumed == {instance_id: "completed"}  # no waiting for expiry
    assert CALLS == ["work", "work"]  # at-least-once: the crashed attempt ran, then the recovery


def test_lease_of_live_other_owner_recovered_only_after_expiry(sqlite_path, manual_clock):
    start = manual_clock.now()
    instance_id = _crashed_instance(sqlite_path, manual_clock, worker="w1")  # w1: alive (this process)

    with App(database=sqlite_path, worker_id="w2", clock=manual_clock, registry=registry) as other:
        assert other.tick().resumed == {}
        manual_clock.set(start + 29)
        assert other.tick().resumed == {}
        assert other.resume(instance_id) is None  # an explicit resume respects the lease too
        assert other.get(instance_id).status == "running"
        assert CALLS == ["work"]
        manual_clock.set(start + 31)
        assert other.tick().resumed == {instance_id: "completed"}
    assert CALLS == ["work", "work"]


def test_lease_on_another_host_waits_for_expiry(sqlite_path, manual_clock):
    start = manual_clock.now()
    instance_id = _crashed_instance(sqlite_path, manual_clock)
    _set_lease_owner(sqlite_path, "elsewhere.example:1:w9")
    with App(database=sqlite_path, worker_id="w2", clock=manual_clock, registry=registry) as other:
        manual_clock.set(start + 10)
        assert other.tick().resumed == {}
        manual_clock.set(start + 31)
        assert other.tick().resumed == {instance_id: "completed"}


def test_own_live_lease_is_left_to_its_thread_until_expiry(sqlite_path, manual_clock):
    start = manual_clock.now()
    instance_id = _crashed_instance(sqlite_path, manual_clock, worker="w1")
    with App(database=sqlite_path, worker_id="w1", clock=manual_clock, registry=registry) as same:
        assert same.tick().resumed == {}  # same owner token: another thread may be running it
        manual_clock.set(start + 31)
        assert same.tick().resumed == {instance_id: "completed"}


# -- real processes ------------------------------------------------------------------------------


def _wait_for(path: Path, proc: subprocess.Popen | None = None, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_crashed_process_instance_recovered_by_tick(tmp_path: Path, sqlite_rows, sqlite_path):
    log, marker = tmp_path / "effects.log", tmp_path / "blocking.marker"
    proc = subprocess.Popen([sys.executable, RUNNER, "start", sqlite_path, "fx_crash",
                             json.dumps([str(log), str(marker)])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(marker, proc)  # the second activity is running in the child
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert fx.read_log(str(log)) == ["a", "b"]
    (instance_id, status, owner), = sqlite_rows("SELECT instance_id, status, lease_owner FROM romancy_instances")
    assert status == "running" and owner.startswith(f"{socket.gethostname()}:{proc.pid}:")

    with App(database=sqlite_path, worker_id="recoverer") as app:  # real clock: the lease has not expired
        assert app.tick().resumed == {instance_id: "completed"}
        assert app.get(instance_id).output == ["a", "b", "c"]

    # The completed activity ran once, the interrupted one at most twice, and no step twice.
    assert fx.read_log(str(log)) == ["a", "b", "b", "c"]
    assert sqlite_rows("SELECT seq, name, count(*) FROM romancy_steps GROUP BY seq ORDER BY seq") == [
        (0, "fx_step", 1), (1, "fx_step", 1), (2, "fx_step", 1)]


def _race(tmp_path: Path, commands: list[list[str]]) -> list[dict]:
    """Run runner commands in parallel processes released together; returns their JSON outputs."""
    go = tmp_path / "go"
    procs = []
    for number, command in enumerate(commands):
        ready = tmp_path / f"ready-{number}"
        args = [sys.executable, RUNNER, command[0], command[1], str(ready), str(go), *command[2:]]
        procs.append((subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), ready))
    try:
        for proc, ready in procs:
            _wait_for(ready, proc)
        go.touch()
        outputs = [proc.communicate(timeout=60) for proc, _ in procs]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for (proc, _), (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


def _start(path: str, workflow_name: str, *args: str) -> str:
    with App(database=path, worker_id="starter") as app:
        return app.start(workflow_name, *args)


def test_two_processes_delivering_the_same_event_resume_once(tmp_path: Path, sqlite_path):
    log = str(tmp_path / "effects.log")
    instance_id = _start(sqlite_path, "fx_race_event", log, "k1")
    send = ["send", sqlite_path, "fx.race", "racer", "same-id", json.dumps({"key": "k1"})]

    results = _race(tmp_path, [send, send])

    assert sorted(r["duplicate"] for r in results) == [False, True]
    assert [r["resumed"] for r in results if not r["duplicate"]] == [{instance_id: "completed"}]
    assert fx.read_log(log) == ["after-event"]
    with App(database=sqlite_path) as app:
        assert app.get(instance_id).output == "same-id"


def test_two_processes_firing_the_same_timer_resume_once(tmp_path: Path, sqlite_path):
    log = str(tmp_path / "effects.log")
    instance_id = _start(sqlite_path, "fx_race_timer", log)
    with App(database=sqlite_path) as app:
        due = app.get(instance_id).wait.wake_at
    tick = ["tick", sqlite_path, str(due + 1)]

    results = _race(tmp_path, [tick, tick])

    assert sorted(len(r["fired"]) for r in results) == [0, 1]
    assert fx.read_log(log) == ["after-timer"]
    with App(database=sqlite_path) as app:
        assert app.get(instance_id).status == "completed"


def test_event_and_timeout_racing_in_two_processes_exactly_one_wins(tmp_path: Path, sqlite_path, sqlite_rows):
    log = str(tmp_path / "effects.log")
    instance_id = _start(sqlite_path, "fx_race_timeout", log, "k2")
    with App(database=sqlite_path) as app:
        deadline = app.get(instance_id).wait.wake_at
    send = ["send", sqlite_path, "fx.race", "racer", "ev-1", json.dumps({"key": "k2"})]
    tick = ["tick", sqlite_path, str(deadline + 1)]

    _race(tmp_path, [send, tick])

    effects = fx.read_log(log)
    assert effects in (["after-event"], ["after-timeout"])
    with App(database=sqlite_path) as app:
        assert app.get(instance_id).output == effects[0].removeprefix("after-")
    assert sqlite_rows("SELECT count(*) FROM romancy_steps WHERE kind = 'event'") == [(1,)]


def test_tick_in_the_future_fires_timers_but_does_not_steal_live_leases(sqlite_path, manual_clock):
    # `romancy tick --advance 1h` beside a running worker: time-skipping is for timers, while
    # leases stay judged by the real clock, or two processes would run one instance at once.
    instance_id = _crashed_instance(sqlite_path, manual_clock, worker="w1")  # w1 alive, lease 30 s
    with App(database=sqlite_path, worker_id="w2", clock=manual_clock, registry=registry) as other:
        assert other.tick(advance="1h").resumed == {}
        assert other.get(instance_id).lease_owner.endswith(":w1")
        manual_clock.advance("31s")
        assert other.tick().resumed == {instance_id: "completed"}
    assert CALLS == ["work", "work"]


REENTRY: list = []  # [app, clock] for the activity below, then what its inner tick resumed


@activity("outlives", registry=registry)
def outlives_its_lease(ctx) -> str:
    CALLS.append("outlives")
    if len(REENTRY) == 2:
        app, clock = REENTRY
        clock.advance("31s")  # this run takes longer than its lease...
        REENTRY.append(app.tick().resumed)  # ...while this process ticks (as serve's timer thread does)
    return "done"


@workflow("long_run", registry=registry)
def long_run(ctx) -> str:
    return outlives_its_lease.execute(ctx)


def test_run_outliving_its_lease_is_not_run_twice_by_the_same_process(sqlite_app, manual_clock):
    REENTRY[:] = [sqlite_app, manual_clock]
    instance_id = long_run.start(sqlite_app)
    assert REENTRY[2] == {}  # the tick saw an expired lease but this process is running the instance
    assert sqlite_app.get(instance_id).output == "done"
    assert CALLS == ["outlives"]
