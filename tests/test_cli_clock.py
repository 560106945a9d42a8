"""Time travel that adds up: one virtual clock per database, which `tick --advance` moves, every
command and `serve` reads, and `tick --reset-clock` sets back. Through the installed `romancy`
executable and a real `romancy serve` on a real SQLite file."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from cli_helpers import Project, make_project
from test_serve_cli import start_server

PING = '''

@workflow(start_on="ping")
def pinged(ctx, n: int = 0) -> int:
    return n
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", (proj.root / "workflows.py").read_text() + PING)
    return proj


def offset(project: Project) -> list:
    return project.rows("SELECT value FROM romancy_meta WHERE key = 'clock_offset'")


def epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_two_advances_of_40m_fire_a_one_hour_sleep(project: Project) -> None:
    iid = project.run("start", "napper").stdout.strip()  # sleeps an hour
    first = project.run("tick", "--advance", "40m")
    assert first.code == 0 and project.status_of(iid) == "waiting_for_timer"
    assert re.search(r"^  clock: \S+ \S+, 40m ahead of the real time \(`romancy tick --reset-clock` goes back\)$",
                     first.stderr, re.M), first.stderr
    second = project.run("tick", "--advance", "40m")
    assert project.status_of(iid) == "completed"
    assert "1h20m ahead of the real time" in second.stderr and f"{iid} → completed" in second.stderr
    assert offset(project) == [("4800.0",)]


def test_status_shows_the_clock_until_it_is_reset(project: Project) -> None:
    iid = project.run("start", "napper").stdout.strip()
    project.run("tick", "--advance", "30m")
    for args in (("status",), ("status", iid)):
        shown = project.run(*args)
        assert "30m ahead of the real time (`romancy tick --reset-clock` goes back)" in shown.stderr, args
    detail = project.run("status", iid).stdout
    assert re.search(r"⏸ sleeping until \S+ \(in (29m5\d|30m)s?\)", detail), detail  # from the virtual now
    assert "clock" not in project.run("status", "--json").stderr  # machine output: only the answer
    reset = project.run("tick", "--reset-clock")
    assert reset.code == 0 and "  clock: the real time" in reset.stderr
    assert offset(project) == []
    assert "clock" not in project.run("status").stderr
    assert project.status_of(iid) == "waiting_for_timer"


def test_now_sets_the_clock_and_prune_reads_it(project: Project) -> None:
    iid = project.run("start", "napper").stdout.strip()
    at = project.run("tick", "--now", "2100-01-01T00:00:00Z")
    assert at.code == 0 and project.status_of(iid) == "completed"
    updated = project.rows("SELECT updated_at FROM romancy_instances WHERE instance_id = ?", iid)[0][0]
    assert updated >= epoch("2100-01-01T00:00:00Z")
    pruned = project.run("prune", "--completed-before", "0s")  # "all ended ones", on the clock they ended by
    assert pruned.code == 0 and "removed 1 instance(s)" in pruned.stderr
    assert project.counts()["romancy_instances"] == 0


def test_prune_0s_removes_every_ended_run_also_after_the_clock_was_reset(project: Project) -> None:
    iid = project.run("start", "napper").stdout.strip()
    project.run("tick", "--advance", "2h")
    assert project.status_of(iid) == "completed"
    project.run("tick", "--reset-clock")  # the run's updated_at is now two hours ahead
    kept = project.run("prune", "--completed-before", "1m")
    assert "removed 0 instance(s)" in kept.stderr
    assert "removed 1 instance(s)" in project.run("prune", "--completed-before", "0s").stderr


def test_clock_options_are_one_at_a_time(project: Project) -> None:
    before = project.counts()
    result = project.run("tick", "--advance", "1h", "--reset-clock")
    assert result.code == 2 and result.error_line == "error: give one of --advance, --now and --reset-clock"
    looped = project.run("tick", "--loop", "--advance", "1h")
    assert looped.code == 2 and "--loop ticks on the database's clock as it is" in looped.error_line
    assert project.counts() == before


def test_serve_runs_on_the_database_clock(project: Project) -> None:
    project.run("tick", "--advance", "1h")
    served = start_server(project, "--no-reload", "--dev")
    try:
        ce = {"Content-Type": "application/cloudevents+json"}
        ping = {"specversion": "1.0", "type": "ping", "source": "s", "id": "p1", "data": {"n": 1}}
        assert requests.post(served.url, json=ping, headers=ce, timeout=10).status_code == 202
        assert served.until(lambda: project.rows("SELECT status FROM romancy_instances")[0][0] == "completed")
        created = project.rows("SELECT created_at FROM romancy_instances")[0][0]
        assert created > time.time() + 3000  # an hour ahead, as the CLI's clock is
        origin = {"Origin": served.url.rstrip("/")}
        advanced = requests.post(served.url + "ui/api/tick", json={"advance": "30m"}, headers=origin, timeout=10)
        assert advanced.status_code == 200
        assert offset(project) == [("5400.0",)]  # the page's advance adds to the same clock
        page = requests.get(served.url, headers={"Accept": "text/html"}, timeout=10).text
        assert "The database's clock is 1h30m ahead of the real time" in page
    finally:
        served.stop()
    assert "1h30m ahead of the real time" in project.run("status").stderr
