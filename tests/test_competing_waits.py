"""Competing waits: an event not addressed to an instance is taken by exactly one of the instances
waiting for its type with `competing=True` (the one waiting longest), while the waits that do not
compete still all receive it; with several processes delivering at once, still exactly one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from romancy_cli import App, ManualClock, Registry, sleep, wait_event, workflow

from conftest import CLOCK_START

registry = Registry()


@workflow("taker", registry=registry)
def taker(ctx: Any, name: str) -> dict:
    return {"name": name, "job": wait_event(ctx, "job.available", competing=True).data["n"]}


@workflow("watcher", registry=registry)
def watcher(ctx: Any) -> int:
    return wait_event(ctx, "job.available").data["n"]


@workflow("napping_taker", registry=registry)
def napping_taker(ctx: Any) -> int:
    sleep(ctx, "1m")
    return wait_event(ctx, "job.available", competing=True).data["n"]


@workflow("bad_competitor", registry=registry)
def bad_competitor(ctx: Any) -> None:
    wait_event(ctx, "job.available", competing="yes")


def _app(database: str, clock: ManualClock) -> App:
    return App(database=database, worker_id="jobs", clock=clock, registry=registry)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "romancy.db")
    return str(request.getfixturevalue("pg_url"))


def test_each_event_goes_to_the_longest_waiting_competitor_and_to_every_watcher(database: str) -> None:
    clock = ManualClock(CLOCK_START)
    with _app(database, clock) as app:
        takers = []
        for name in ("a", "b", "c"):
            takers.append(app.start("taker", name))
            clock.advance(1)
        watchers = [app.start("watcher"), app.start("watcher")]
        first = app.send_event("job.available", {"n": 1})
        assert first.resumed == {takers[0]: "completed", watchers[0]: "completed", watchers[1]: "completed"}
        assert app.send_event("job.available", {"n": 2}).resumed == {takers[1]: "completed"}
        assert [app.get(t).status for t in takers] == ["completed", "completed", "waiting_for_event"]
        assert [app.get(t).output["job"] for t in takers[:2]] == [1, 2]


def test_an_event_stored_before_the_waits_is_taken_by_the_first_competitor_only(database: str) -> None:
    clock = ManualClock(CLOCK_START)
    with _app(database, clock) as app:
        nappers = [app.start("napping_taker"), app.start("napping_taker")]
        assert app.send_event("job.available", {"n": 7}).resumed == {}  # both nap: nobody waits yet
        clock.advance(61)
        app.tick()  # both wake and wait: the event stored meanwhile goes to one of them
        outputs = sorted(str(app.get(n).output) for n in nappers)
        assert outputs == ["7", "None"]
        waiting = [n for n in nappers if app.get(n).status == "waiting_for_event"]
        assert len(waiting) == 1
        assert app.send_event("job.available", {"n": 8}).resumed == {waiting[0]: "completed"}
        assert app.get(waiting[0]).output == 8


def test_an_event_addressed_to_an_instance_goes_to_it_even_when_others_wait_longer(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with _app(sqlite_path, clock) as app:
        older = app.start("taker", "older")
        clock.advance(5)
        younger = app.start("taker", "younger")
        sent = app.send_event("job.available", {"n": 3}, extensions={"romancyinstanceid": younger})
        assert sent.resumed == {younger: "completed"} and app.get(older).status == "waiting_for_event"


def test_competing_must_be_a_boolean(sqlite_path: str) -> None:
    with _app(sqlite_path, ManualClock(CLOCK_START)) as app:
        failed = app.get(app.start("bad_competitor"))
        assert failed.status == "failed"
        assert failed.error["message"] == "wait_event: competing must be True or False, not 'yes'"


LOOPING = '''
from romancy_cli import wait_event, workflow


@workflow("job_loop")
def job_loop(ctx, name: str) -> list:
    taken = []
    for _ in range(100):
        taken.append(wait_event(ctx, "job.available", competing=True).data["n"])
    return taken
'''


def test_a_hundred_events_from_five_processes_are_each_taken_once_by_ten_competitors(
        pg_url: str, tmp_path: Path) -> None:
    from cli_helpers import make_project

    project = make_project(tmp_path)
    project.write("workflows.py", LOOPING)
    project.write("romancy.toml", f'database = "{pg_url}"\nworkflows = ["workflows.py"]\n')
    for n in range(10):
        assert project.run("start", "job_loop", f"w{n}").code == 0
    batches = []
    for p in range(5):
        lines = [json.dumps({"type": "job.available", "source": f"p{p}", "id": f"job-{p}-{k}",
                             "data": {"n": p * 20 + k}}) for k in range(20)]
        path = project.write(f"batch{p}.jsonl", "\n".join(lines) + "\n")
        batches.append(project.popen("send-event", "--batch", str(path)))
    for proc in batches:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with App(database=pg_url, worker_id="check") as app:
        takers = Counter()
        for event in app.list_events(event_type="job.available"):
            takers[len(event.consumed_by)] += 1
        assert takers == Counter({1: 100})  # each of the 100 events taken by exactly one
        taken = [n for i in app.list_instances(workflow="job_loop")
                 for s in app.history(i.instance_id) if s.kind == "event" for n in [s.result["data"]["n"]]]
        assert sorted(taken) == list(range(100))
