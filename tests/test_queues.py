"""Queues: an instance holds a slot of its queue from its start to its end; on a full queue it is
`queued` and starts when a slot frees, oldest first; `rate = "N/1m"` allows N starts in any 60 s;
the limits hold across processes (PostgreSQL); `romancy queues` and GET /queues show them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from romancy_cli import App, ManualClock, Queue, Registry, activity, sleep, start_child, wait_children, workflow

from conftest import CLOCK_START

registry = Registry()
Queue("three", concurrency=3, registry=registry)
Queue("five_a_minute", rate="5/1m", registry=registry)
Queue("two", concurrency=2, registry=registry)
SAMPLES: list[tuple[int, int]] = []  # (order started, running in the queue then)
DATABASE: list[str] = []


@activity("sample_slots", registry=registry)
def sample_slots(ctx: Any, n: int) -> int:
    with sqlite3.connect(DATABASE[0]) as conn:
        (running,) = conn.execute("SELECT COUNT(*) FROM romancy_instances WHERE queue = 'three' AND status "
                                  "NOT IN ('queued', 'completed', 'failed', 'cancelled')").fetchone()
    SAMPLES.append((n, running))
    return running


@workflow("slot_user", registry=registry, queue="three")
def slot_user(ctx: Any, n: int) -> int:
    sample_slots.execute(ctx, n)
    sleep(ctx, "1m")  # a sleeping instance keeps its slot
    return n


@workflow("quick", registry=registry)
def quick(ctx: Any, n: int) -> int:
    return n


@workflow("napper", registry=registry, queue="two")
def napper(ctx: Any) -> str:
    sleep(ctx, "1h")
    return "rested"


@workflow("dispatcher", registry=registry)
def dispatcher(ctx: Any, count: int) -> list:
    ids = [start_child(ctx, "quick", n, queue="five_a_minute") for n in range(count)]
    return wait_children(ctx, ids)


def _running(app: App, name: str) -> int:
    return next(s.running for s in app.queue_states() if s.spec.name == name)


def test_two_hundred_instances_on_three_slots_never_run_more_than_three_and_keep_their_order(
        sqlite_path: str) -> None:
    SAMPLES.clear()
    DATABASE[:] = [sqlite_path]
    clock = ManualClock(CLOCK_START)
    with App(database=sqlite_path, worker_id="slots", clock=clock, registry=registry) as app:
        ids = [app.start("slot_user", n) for n in range(200)]
        assert [app.get(i).status for i in ids[:4]] == ["waiting_for_timer"] * 3 + ["queued"]
        assert app.count_instances(workflow="slot_user") == {"waiting_for_timer": 3, "queued": 197}
        for _ in range(80):
            clock.advance(61)
            app.tick()
            assert _running(app, "three") <= 3
        assert app.count_instances(workflow="slot_user") == {"completed": 200}
    assert [n for n, _ in SAMPLES] == list(range(200))  # oldest first
    assert max(running for _, running in SAMPLES) == 3


def test_a_rate_allows_n_starts_in_any_window_of_virtual_time(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with App(database=sqlite_path, worker_id="rate", clock=clock, registry=registry) as app:
        ids = [app.start("quick", n, queue="five_a_minute") for n in range(12)]
        assert [app.get(i).status for i in ids] == ["completed"] * 5 + ["queued"] * 7
        assert app.next_wake() == CLOCK_START + 60  # when the first start leaves the window
        app.tick(advance="59s")
        assert app.count_instances() == {"completed": 5, "queued": 7}
        app.tick(advance="61s")
        assert [app.get(i).status for i in ids] == ["completed"] * 10 + ["queued"] * 2
        app.tick(advance="2m")  # (+60 s, +120 s] holds the five starts at +61 s: still full
        assert app.count_instances() == {"completed": 10, "queued": 2}
        app.tick(advance="3m")
        assert app.count_instances() == {"completed": 12}
        started = sorted(app.get(i).started_at for i in ids)
        assert all(started[k + 5] - started[k] >= 60 for k in range(len(started) - 5))


def test_a_child_in_a_full_queue_is_queued_and_its_parent_waits_for_it(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with App(database=sqlite_path, worker_id="kids", clock=clock, registry=registry) as app:
        parent = app.start("dispatcher", 7)
        assert [c.status for c in app.children(parent)].count("queued") == 2
        assert app.get(parent).status == "waiting_for_event"
        app.tick(advance="61s")
        assert app.get(parent).output == list(range(7))


def test_a_queued_instance_is_cancelled_and_a_cancel_frees_a_slot(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with App(database=sqlite_path, worker_id="cancel", clock=clock, registry=registry) as app:
        first, second, third, fourth = (app.start("napper") for _ in range(4))
        assert app.cancel(fourth).status == "cancelled"
        assert (app.get(third).status, _running(app, "two")) == ("queued", 2)
        app.cancel(first)
        assert app.get(third).status == "waiting_for_timer" and _running(app, "two") == 2
        (state,) = [s for s in app.queue_states() if s.spec.name == "two"]
        assert (state.queued, state.oldest_queued_at) == (0, None)


def test_an_unknown_queue_is_an_input_error_and_stores_nothing(sqlite_path: str) -> None:
    from romancy_cli import UsageError

    with App(database=sqlite_path, worker_id="bad", registry=registry) as app:
        with pytest.raises(UsageError, match="unknown queue 'nope' \\(declared: five_a_minute, three, two\\)"):
            app.start("quick", 1, queue="nope")
        assert app.list_instances() == []


def test_the_limit_holds_across_workers_on_postgresql(pg_url: str) -> None:
    clock = ManualClock(CLOCK_START)
    apps = [App(database=pg_url, worker_id=f"w{n}", clock=clock, registry=registry).initialize() for n in range(4)]
    try:
        threads = [threading.Thread(target=lambda a=a: [a.start("napper") for _ in range(5)]) for a in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert apps[0].count_instances(workflow="napper") == {"waiting_for_timer": 2, "queued": 18}
        clock.advance(3601)
        for app in apps:
            app.tick()
            assert _running(app, "two") <= 2
        assert apps[0].count_instances(workflow="napper") == {"completed": 2, "waiting_for_timer": 2, "queued": 16}
    finally:
        for app in apps:
            app.shutdown()


CLI_QUEUES = '''
from romancy_cli import workflow


@workflow("mailer", queue="emails")
def mailer(ctx, to: str) -> str:
    return f"sent to {to}"
'''


def test_queues_from_romancy_toml_on_the_command_line_and_get_queues(tmp_path: Path) -> None:
    from cli_helpers import make_project

    project = make_project(tmp_path)
    project.write("workflows.py", CLI_QUEUES)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n\n'
                                  '[queues.emails]\nconcurrency = 5\nrate = "2/1m"\n')
    ids = [project.run("start", "mailer", f"user{n}@example.com").stdout.strip() for n in range(3)]
    shown = project.run("status", ids[2], "--json").json
    assert (shown["status"], shown["queue"]) == ("queued", "emails")
    assert "queued in emails" in project.run("status", ids[2]).stderr + project.run("status", ids[2]).stdout
    listed = project.run("queues", "--json").json
    assert [{k: v for k, v in q.items() if k != "oldest_queued_at"} for q in listed] == [
        {"queue": "emails", "concurrency": 5, "rate": "2/1m", "queued": 1, "running": 0}]
    assert listed[0]["oldest_queued_at"] == shown["created_at"]
    assert project.run("queues").stdout.splitlines()[0].split() == [
        "QUEUE", "CONCURRENCY", "RATE", "QUEUED", "RUNNING", "OLDEST", "QUEUED"]
    assert project.run("tick", "--advance", "1m").code == 0
    assert project.run("status", ids[2], "--json").json["output"] == "sent to user2@example.com"
    unknown = project.run("start", "mailer", "x", "--queue", "nope")
    assert unknown.code == 2 and "unknown queue 'nope' (declared: emails)" in unknown.error_line
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n\n'
                                  '[queues.emails]\nconcurrency = 0\n')
    bad = project.run("queues")
    assert bad.code == 2 and "queue 'emails': concurrency must be a whole number from 1, not 0" in bad.error_line


def test_get_queues_answers_the_same_shape(sqlite_path: str) -> None:
    import requests

    from serve_support import run_server

    from urllib.parse import quote

    from romancy_cli.times import iso

    app = App(database=sqlite_path, worker_id="web", registry=registry).initialize()
    last = [app.start("napper") for _ in range(3)][-1]
    for server in run_server(Path(sqlite_path), app=app):
        body = requests.get(f"{server.url}queues", timeout=10).json()
        assert [q["queue"] for q in body] == ["five_a_minute", "three", "two"]
        assert body[2] == {"queue": "two", "concurrency": 2, "rate": None, "queued": 1, "running": 2,
                           "oldest_queued_at": iso(app.get(last).created_at)}
        listed = requests.get(f"{server.url}instances?status=queued&counts=true", timeout=10).json()
        assert [i["instance_id"] for i in listed["instances"]] == [last] and listed["counts"]["queued"] == 1
        page = requests.get(f"{server.url}ui/instances/{quote(last)}", timeout=10).text
        assert 'class="st st-queued"' in page
