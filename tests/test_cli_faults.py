"""README "When the database fails": a database locked by another process is a fault, never a
workflow's outcome, and nothing is reported as done before it is committed. The real `romancy`
executable against a real SQLite file, locked for real by another connection."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import pytest

from cli_helpers import Project

WORKFLOWS = '''
import os
import time
from pathlib import Path
from romancy_cli import activity, wait_event, workflow

HERE = Path(__file__).parent


@activity
def step(ctx, name: str) -> str:
    with open(HERE / "effects.log", "a") as log:
        log.write(f"{ctx.instance_id} {name}\\n")
    gate = HERE / f"gate-{name}"
    if (HERE / f"hold-{name}").exists():  # the test holds this activity until it opens the gate
        (HERE / f"running-{name}").touch()
        while not gate.exists():
            time.sleep(0.02)
    return name


@workflow
def wait_then_two(ctx, key: str) -> list:
    wait_event(ctx, "the.type", match={"key": key})
    return [step.execute(ctx, "a"), step.execute(ctx, "b")]
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\nbusy_timeout = 0.5\n')
    proj.write("workflows.py", WORKFLOWS)
    return proj


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another process's write lock, held until the block ends."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def effects(project: Project) -> list[str]:
    log = project.root / "effects.log"
    return log.read_text().splitlines() if log.exists() else []


def wait_for_file(path: Path, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_send_event_under_a_held_lock_reports_the_fault_and_stores_nothing(project: Project) -> None:
    assert project.run("start", "wait_then_two", "s1", "--id", "i-s1").code == 0
    before = project.counts()
    with locked(project.db):
        sent = project.run("send-event", "the.type", "--data", '{"key": "s1"}', "--id", "ev-s1", "--json")
    assert sent.code == 4 and sent.stdout == ""
    assert "is locked by another process (held > 0.5 s); retry once it is released" in sent.error_line
    assert project.counts() == before and project.status_of("i-s1") == "waiting_for_event"
    assert effects(project) == []

    again = project.run("send-event", "the.type", "--data", '{"key": "s1"}', "--id", "ev-s1", "--json")
    assert again.code == 0 and again.json["resumed"] == [{"instance_id": "i-s1", "status": "completed"}]
    assert effects(project) == ["i-s1 a", "i-s1 b"]


def test_a_lock_taken_during_a_resumed_run_is_not_the_workflows_failure(project: Project) -> None:
    assert project.run("start", "wait_then_two", "s2", "--id", "i-s2").code == 0
    sent = project.run("send-event", "the.type", "--data", '{"key": "s2"}', "--no-resume", "--json")
    assert sent.code == 0 and sent.json["delivered"] == ["i-s2"]
    (project.root / "hold-a").touch()
    tick = project.popen("tick", "--json")
    wait_for_file(project.root / "running-a")
    with locked(project.db):
        (project.root / "gate-a").touch()  # activity a returns; the commit before b meets the lock
        out, err = tick.communicate(timeout=30)
    assert tick.returncode == 4 and out == "", err
    assert "is locked by another process" in err
    row = project.rows("SELECT status, error FROM romancy_instances WHERE instance_id = 'i-s2'")
    assert row == [("running", None)]  # as last committed: the event taken, nothing after it
    assert [r[0] for r in project.rows("SELECT kind FROM romancy_steps WHERE instance_id = 'i-s2'")] == ["event"]

    (project.root / "hold-a").unlink()
    retried = project.run("tick", "--json")  # the run's process is gone: recovered at once
    assert retried.code == 0 and retried.json["resumed"] == [{"instance_id": "i-s2", "status": "completed"}]
    (output,), = project.rows("SELECT output FROM romancy_instances WHERE instance_id = 'i-s2'")
    assert json.loads(output) == ["a", "b"]
    assert effects(project) == ["i-s2 a", "i-s2 a", "i-s2 b"]  # a ran again: its result was never committed


def test_start_under_a_held_lock_exits_4_and_leaves_no_instance(project: Project) -> None:
    assert project.run("start", "wait_then_two", "warm", "--id", "i-warm").code == 0
    with locked(project.db):
        started = project.run("start", "wait_then_two", "s3", "--id", "i-s3")
    assert started.code == 4 and started.stdout == ""
    assert "is locked by another process" in started.error_line
    assert project.rows("SELECT instance_id FROM romancy_instances") == [("i-warm",)]


def test_busy_timeout_must_be_a_positive_number_of_seconds(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\nbusy_timeout = -1\n')
    result = project.run("status")
    assert result.code == 2
    assert "`busy_timeout` must be a positive number of seconds" in result.error_line
