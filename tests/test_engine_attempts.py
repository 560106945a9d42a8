"""Failed attempts of retried activities: kept as `attempt` steps at negative seqs, written with
the retry wait, shown in history, never replayed; unique across `retry` of the instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from romancy_cli import App, ManualClock, Registry, RetryPolicy, activity, workflow
from romancy_cli.records import Step

registry = Registry()  # this module's workflows, so their names need only be unique here
START = 1_700_000_000.0


class Down(Exception):
    pass


@activity("wobbly", retry=RetryPolicy(max_attempts=3, initial_interval="10s", backoff=2.0), registry=registry)
def wobbly(ctx: Any, succeed_on: int) -> str:
    if ctx.attempt < succeed_on:
        raise Down(f"down on attempt {ctx.attempt}")  # RAISE_LINE
    return f"up on {ctx.attempt}"


@workflow("wobbling", registry=registry)
def wobbling(ctx: Any, succeed_on: int) -> str:
    return wobbly.execute(ctx, succeed_on)


RAISE_LINE = next(n for n, line in enumerate(Path(__file__).read_text().splitlines(), 1)
                  if line.endswith("# RAISE_LINE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "romancy.db") if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    with App(database=url, worker_id="test-worker", clock=ManualClock(START), registry=registry) as opened:
        yield opened


def attempts(history: list[Step]) -> list[tuple[int, int, str]]:
    return [(s.seq, s.result["attempt"], s.result["error"]["message"]) for s in history if s.kind == "attempt"]


def run_through(app: App, instance_id: str) -> None:
    """Fire the two retries' timers (10s, then 20s later)."""
    app.tick(now=START + 10)
    app.tick(now=START + 30)


def test_two_failed_attempts_are_kept_before_the_result_and_replay_ignores_them(app: App) -> None:
    iid = wobbling.start(app, 3)
    waiting = app.history(iid)
    assert [(s.seq, s.kind, s.name) for s in waiting] == [(0, "attempt", "wobbly")]
    assert waiting[0].result == {"step": 0, "attempt": 1, "failed_at": START, "error": {
        "type": "Down", "message": "down on attempt 1", "where": f"{__file__}:{RAISE_LINE}"}}
    run_through(app, iid)
    assert (app.get(iid).status, app.get(iid).output) == ("completed", "up on 3")
    history = app.history(iid)
    assert [s.kind for s in history] == ["attempt", "attempt", "activity"]
    assert attempts(history) == [(0, 1, "down on attempt 1"), (0, 2, "down on attempt 2")]
    assert history[1].result["failed_at"] == START + 10
    assert history[2].result == {"value": "up on 3"}
    assert app.check_replay(instance_id=iid, include_ended=True) == (1, [])


def test_retry_keeps_earlier_attempts_and_places_new_ones_below_them(app: App) -> None:
    iid = wobbling.start(app, 99)
    run_through(app, iid)
    assert app.get(iid).status == "failed"
    app.retry(iid)  # the first attempt of the re-run fails again: kept below the retried marker
    history = app.history(iid)
    assert [(s.kind, s.result.get("attempt")) for s in history] == [
        ("attempt", 1), ("attempt", 2), ("retried", None), ("attempt", 1)]
    assert history[2].result["error"]["message"] == "down on attempt 3"
    app.tick(now=START + 100)
    app.tick(now=START + 200)
    assert app.get(iid).status == "failed"
    shown = [(s.kind, s.result.get("attempt")) for s in app.history(iid)]
    assert shown == [("attempt", 1), ("attempt", 2), ("retried", None), ("attempt", 1), ("attempt", 2),
                     ("activity", None)]
    assert app.check_replay(instance_id=iid, include_ended=True) == (1, [])
