"""Compensation survives crashes: real `romancy` processes SIGKILLed at random points while they
undo a failed trip; after recovery each undo's effect is applied once, newest first."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from cli_helpers import Project, make_project

# Each undo records its effect once per idempotency key (as README advises for external
# services) and logs every attempt; it sleeps so that a kill can land while it runs.
SAGA = '''
import json, os, time
from romancy_cli import activity, workflow

HERE = os.path.dirname(os.path.abspath(__file__))


def effect(ctx, what):
    with open(os.path.join(HERE, "attempts.log"), "a") as log:
        log.write(what + "\\n")
    time.sleep(0.15)
    path = os.path.join(HERE, "effects.log")
    done = open(path).read().splitlines() if os.path.exists(path) else []
    if ctx.idempotency_key not in [line.split(" ", 1)[0] for line in done]:
        with open(path, "a") as log:
            log.write(f"{ctx.idempotency_key} {what}\\n")


@activity
def cancel_flight(ctx, booking, trip):
    effect(ctx, f"cancel {booking}")


@activity
def cancel_hotel(ctx, booking, trip):
    effect(ctx, f"cancel {booking}")


@activity(compensate=cancel_flight)
def book_flight(ctx, trip):
    return f"FL-{trip}"


@activity(compensate=cancel_hotel)
def book_hotel(ctx, trip):
    return f"HO-{trip}"


@activity
def book_car(ctx, trip):
    raise RuntimeError("no car left")


@workflow
def trip(ctx, trip_id: str):
    book_flight.execute(ctx, trip_id)
    book_hotel.execute(ctx, trip_id)
    book_car.execute(ctx, trip_id)
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", SAGA)
    return proj


def _status(project: Project, instance_id: str) -> str:
    try:
        rows = project.rows("SELECT status FROM romancy_instances WHERE instance_id = ?", instance_id)
    except sqlite3.OperationalError:  # a start killed before it created the tables
        return "absent"
    return rows[0][0] if rows else "absent"


def _killed_at_random(project: Project, rng: random.Random, *args: str) -> None:
    proc = project.popen(*args)
    try:
        proc.wait(timeout=rng.uniform(0.2, 0.9))
    except Exception:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_sigkill_during_compensation_applies_each_undo_once(project: Project) -> None:
    rng = random.Random(time.time_ns())
    iid = "trip-1"
    for _ in range(40):  # bounded: each round a start or tick that may be killed mid-undo
        status = _status(project, iid)
        if status == "failed":
            break
        command = ("start", "trip", "T1", "--id", iid) if status == "absent" else ("tick",)
        _killed_at_random(project, rng, *command)
    else:
        assert project.run("tick").code == 0
    assert _status(project, iid) == "failed"
    effects = [line.split(" ", 1)[1] for line in (project.root / "effects.log").read_text().splitlines()]
    assert effects == ["cancel HO-T1", "cancel FL-T1"]
    shown = project.run("--json", "status", iid)
    view = shown.json
    assert view["error"]["type"] == "ActivityError" and "no car left" in view["error"]["message"]
    assert [(s["kind"], s["name"]) for s in view["history"]][3:] == [
        ("ended", "failed"), ("activity", "cancel_hotel"), ("activity", "cancel_flight")]
    attempts = (project.root / "attempts.log").read_text()
    assert project.run("tick").code == 0  # recorded undos never run again
    assert (project.root / "attempts.log").read_text() == attempts


def test_cancel_over_the_cli_says_compensating_and_tick_finishes_it(project: Project) -> None:
    project.write("workflows.py", SAGA.replace("    book_car.execute(ctx, trip_id)\n",
                                               "    wait_event(ctx, 'trip.confirmed')\n")
                  .replace("from romancy_cli import activity, workflow",
                           "from romancy_cli import activity, wait_event, workflow"))
    assert project.run("start", "trip", "T2", "--id", "trip-2").code == 0
    cancelled = project.run("cancel", "trip-2")
    assert cancelled.code == 0, cancelled.stderr
    assert "compensating trip-2 (was waiting_for_event)" in cancelled.stderr
    assert _status(project, "trip-2") == "compensating"
    ticked = project.run("--json", "tick")
    assert json.loads(ticked.stdout)["resumed"] == [{"instance_id": "trip-2", "status": "cancelled"}]
    effects = [line.split(" ", 1)[1] for line in (project.root / "effects.log").read_text().splitlines()]
    assert effects == ["cancel HO-T2", "cancel FL-T2"]
