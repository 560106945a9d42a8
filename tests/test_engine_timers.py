"""Timers, and the time-skipping helpers of romancy_cli.testing."""

from __future__ import annotations

from pathlib import Path

import pytest

from romancy_cli import (App, ManualClock, Registry, RetryPolicy, UsageError, activity, sleep, wait_event,
                         workflow)
from romancy_cli.testing import advance, run_until_idle, temporary_app

registry = Registry()  # this module's workflows, so their names need only be unique here

LOG: list[str] = []


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()


@workflow("nap", registry=registry)
def nap(ctx, duration: str) -> str:
    LOG.append(f"run:{ctx.is_replaying}")
    sleep(ctx, duration)
    return f"woke after {duration}"


@workflow("two_naps", registry=registry)
def two_naps(ctx) -> int:
    sleep(ctx, "1h")
    sleep(ctx, "1h")
    return 2


@workflow("zero", registry=registry)
def zero(ctx) -> str:
    sleep(ctx, 0)
    return "no wait"


def test_sleep_records_timer_and_tick_fires_only_when_due(sqlite_app, manual_clock, sqlite_rows):
    start = manual_clock.now()
    instance_id = nap.start(sqlite_app, "60s")
    instance = sqlite_app.get(instance_id)
    assert instance.status == "waiting_for_timer"
    assert (instance.wait.kind, instance.wait.wake_at) == ("timer", start + 60)
    assert sqlite_app.next_wake() == start + 60

    assert sqlite_app.tick().fired == []
    assert sqlite_app.tick(now=start + 59.999).fired == []
    result = sqlite_app.tick(now=start + 60)
    assert result.fired == [instance_id]
    assert result.resumed == {instance_id: "completed"}
    assert result.next_wake is None
    assert sqlite_app.get(instance_id).output == "woke after 60s"
    assert sqlite_rows("SELECT kind, name, result FROM romancy_steps") == [
        ("timer", "sleep", f'{{"fired_at":{start + 60}}}')]
    assert LOG == ["run:False", "run:True"]


def test_tick_advance_fires_everything_due_by_then(sqlite_app):
    short = nap.start(sqlite_app, "1h")
    long = nap.start(sqlite_app, "48h")
    result = sqlite_app.tick(advance="2h")
    assert result.resumed == {short: "completed"}
    assert sqlite_app.get(long).status == "waiting_for_timer"
    assert result.next_wake == sqlite_app.get(long).wait.wake_at
    assert sqlite_app.tick(advance="48h").resumed == {long: "completed"}


def test_tick_reports_next_wake_for_a_timer_loop(sqlite_app, manual_clock):
    nap.start(sqlite_app, "5m")
    nap.start(sqlite_app, "2m")
    assert sqlite_app.tick().next_wake == manual_clock.now() + 120


def test_consecutive_sleeps_each_need_their_own_tick(sqlite_app, manual_clock):
    instance_id = two_naps.start(sqlite_app)
    manual_clock.advance("1h")
    assert sqlite_app.tick().resumed == {instance_id: "waiting_for_timer"}
    manual_clock.advance("1h")
    assert sqlite_app.tick().resumed == {instance_id: "completed"}


def test_sleep_zero_does_not_suspend(sqlite_app):
    instance_id = zero.start(sqlite_app)
    assert sqlite_app.get(instance_id).output == "no wait"


@pytest.mark.parametrize("bad", ["soon", "5 parsecs", "-3s", -1, "1h-"])
def test_invalid_sleep_duration_fails_instance_naming_the_value(sqlite_app, bad):
    instance_id = nap.start(sqlite_app, str(bad))
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.error["type"]) == ("failed", "UsageError")
    assert repr(str(bad)) in instance.error["message"]


@pytest.mark.parametrize("bad", ["tomorrow", "1x", "", None])
def test_invalid_advance_is_a_usage_error_naming_the_value(sqlite_app, bad):
    with pytest.raises(UsageError, match="invalid advance"):
        sqlite_app.tick(advance=bad if bad is not None else [])


# -- romancy_cli.testing ----------------------------------------------------------------------


def test_temporary_app_uses_a_real_file_and_a_manual_clock(tmp_path: Path):
    with temporary_app(tmp_path, registry=registry) as app:
        assert isinstance(app.clock, ManualClock)
        instance_id = nap.start(app, "48h")
        assert advance(app, "47h") == {}
        assert advance(app, "1h") == {instance_id: "completed"}
    assert (tmp_path / "romancy.db").exists()


def test_temporary_app_without_path_cleans_up():
    with temporary_app(registry=registry) as app:
        folder = Path(app.database).parent
        assert zero.start(app)
        assert Path(app.database).exists()
    assert not folder.exists()


@activity("eager_retry", retry=RetryPolicy(max_attempts=3, initial_interval=0), registry=registry)
def eager_retry(ctx) -> int:
    LOG.append(f"attempt:{ctx.attempt}")
    if ctx.attempt < 3:
        raise RuntimeError("not yet")
    return ctx.attempt


@workflow("retry_now", registry=registry)
def retry_now(ctx) -> int:
    return eager_retry.execute(ctx)


def test_run_until_idle_drives_chains_of_due_work(tmp_path: Path):
    clock = ManualClock(1_000.0)
    with temporary_app(tmp_path / "chain.db", clock=clock, registry=registry) as app:
        instance_id = retry_now.start(app)
        assert app.get(instance_id).status == "waiting_for_timer"  # retry due at once
        assert run_until_idle(app) == {instance_id: "completed"}  # one tick per attempt
        assert LOG == ["attempt:1", "attempt:2", "attempt:3"]
        assert clock.now() == 1_000.0


def test_run_until_idle_stops_on_parked_instances(tmp_path: Path):
    @workflow("changing", registry=registry)
    def changing(ctx) -> str:
        sleep(ctx, "1s")
        return "v1"

    with temporary_app(tmp_path, registry=registry) as app:
        instance_id = changing.start(app)

        @workflow("changing", registry=registry)
        def changed(ctx) -> str:
            wait_event(ctx, "t.tm.other")
            return "v2"

        assert advance(app, "1s") == {instance_id: "parked"}
        assert app.get(instance_id).parked


def test_advance_needs_a_manual_clock(tmp_path: Path):
    with App(database=str(tmp_path / "x.db"), registry=registry) as app:
        with pytest.raises(UsageError, match="ManualClock"):
            advance(app, "1s")
