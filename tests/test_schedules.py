"""Schedules through App with a manual clock: one instance per slot, overlap policies, catch-up
window, pause, backfill, trigger, timezones with daylight-saving changes, code declarations."""

from __future__ import annotations

from datetime import datetime

import pytest

from romancy_cli import App, ManualClock, sleep, workflow
from romancy_cli.definitions import Registry
from romancy_cli.errors import NotFoundError, UsageError, WorkflowDefinitionError

registry = Registry()
MINUTE = 60.0


@workflow("quick", registry=registry)
def quick(ctx, label: str = "none") -> dict:
    at = ctx.scheduled_at
    return {"label": label, "slot": at.isoformat() if at else None}


@workflow("slow", registry=registry)
def slow(ctx) -> str:
    sleep(ctx, "150s")  # spans two and a half slots of a one-minute schedule
    return "done"


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def started(app: App, schedule_id: str) -> list[str]:
    return sorted(i.instance_id for i in app.list_instances() if i.instance_id.startswith(schedule_id + "@"))


def outcomes(app: App, schedule_id: str) -> list[tuple[str, str]]:
    from romancy_cli.schedule_spec import slot_text

    return [(slot_text(r.slot, "UTC"), r.outcome) for r in reversed(app.schedule_runs(schedule_id, 100))]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at("2026-01-05T08:59:30+00:00"))


@pytest.fixture
def app(tmp_path, clock: ManualClock):
    with App(database=str(tmp_path / "romancy.db"), worker_id="w1", clock=clock, registry=registry) as opened:
        yield opened


def test_every_minute_for_a_thousand_minutes_starts_one_instance_per_slot(app: App, clock: ManualClock) -> None:
    app.create_schedule("minutely", "quick", cron="* * * * *", input={"label": "m"})
    for _ in range(1000):
        clock.advance(MINUTE)
        app.tick()
        app.tick()  # a second tick at the same time starts nothing more
    ids = started(app, "minutely")
    assert len(ids) == 1000 == len(set(ids))
    assert ids[0] == "minutely@2026-01-05T09:00:00Z" and ids[-1] == "minutely@2026-01-06T01:39:00Z"
    first = app.get("minutely@2026-01-05T09:00:00Z")
    assert first.status == "completed"
    assert first.output == {"label": "m", "slot": "2026-01-05T09:00:00+00:00"}


def test_time_travel_runs_every_slot_jumped_over(app: App) -> None:
    app.create_schedule("hourly", "quick", cron="0 * * * *")
    app.tick(advance="1d")
    assert len(started(app, "hourly")) == 24
    app.tick(advance="1d")  # the same day again: nothing more
    assert len(started(app, "hourly")) == 24


def test_an_instance_started_by_hand_has_no_slot(app: App) -> None:
    iid = app.start("quick")
    assert app.get(iid).output == {"label": "none", "slot": None}


def test_skip_records_slots_whose_previous_run_has_not_ended(app: App, clock: ManualClock) -> None:
    app.create_schedule("s", "slow", every="1m")
    for _ in range(6):
        clock.advance(MINUTE)
        app.tick()
    # 09:00 runs until 09:02:30; 09:01 and 09:02 are skipped; 09:03 starts, 09:04 and 09:05 skipped
    assert outcomes(app, "s") == [
        ("2026-01-05T09:00:00Z", "started"), ("2026-01-05T09:01:00Z", "skipped"), ("2026-01-05T09:02:00Z", "skipped"),
        ("2026-01-05T09:03:00Z", "started"), ("2026-01-05T09:04:00Z", "skipped"), ("2026-01-05T09:05:00Z", "skipped")]
    assert started(app, "s") == ["s@2026-01-05T09:00:00Z", "s@2026-01-05T09:03:00Z"]


def test_buffer_one_runs_one_waiting_slot_when_the_previous_ends(app: App, clock: ManualClock) -> None:
    app.create_schedule("b", "slow", every="1m", overlap="buffer_one")
    for _ in range(4):
        clock.advance(MINUTE)
        app.tick()
    # 09:00 runs to 09:02:30; 09:01 is buffered, 09:02 skipped (one buffered already); the tick
    # at 09:03 ends 09:00's run, starts the buffered 09:01, and skips 09:03 (09:01 runs).
    assert outcomes(app, "b") == [
        ("2026-01-05T09:00:00Z", "started"), ("2026-01-05T09:01:00Z", "started"), ("2026-01-05T09:02:00Z", "skipped"),
        ("2026-01-05T09:03:00Z", "buffered")]
    assert started(app, "b") == ["b@2026-01-05T09:00:00Z", "b@2026-01-05T09:01:00Z"]


def test_allow_all_starts_every_slot(app: App, clock: ManualClock) -> None:
    app.create_schedule("a", "slow", every="1m", overlap="allow_all")
    for _ in range(4):
        clock.advance(MINUTE)
        app.tick()
    assert len(started(app, "a")) == 4
    assert {o for _, o in outcomes(app, "a")} == {"started"}


def test_slots_older_than_the_catchup_window_are_missed(tmp_path, clock: ManualClock) -> None:
    path = str(tmp_path / "romancy.db")
    with App(database=path, worker_id="w1", clock=clock, registry=registry) as first:
        first.create_schedule("c", "quick", every="1m", catchup_window="90s")
    clock.advance("10m")  # no process looked meanwhile
    with App(database=path, worker_id="w2", clock=clock, registry=registry) as second:
        second.tick()
        runs = outcomes(second, "c")
        assert [o for _, o in runs] == ["missed"] * 8 + ["started", "started"]
        assert started(second, "c") == ["c@2026-01-05T09:08:00Z", "c@2026-01-05T09:09:00Z"]
        assert second.get_schedule("c").next_slot == at("2026-01-05T09:10:00+00:00")
        # a missed slot runs with backfill
        ran = second.backfill_schedule("c", at("2026-01-05T09:02:00+00:00"), at("2026-01-05T09:03:00+00:00"))
        assert [r.status for r in ran] == ["completed", "completed"]
        assert "c@2026-01-05T09:02:00Z" in started(second, "c")


def test_paused_schedules_start_nothing_and_unpause_skips_what_was_missed(app: App, clock: ManualClock) -> None:
    app.create_schedule("p", "quick", every="1m")
    app.pause_schedule("p", note="maintenance")
    assert app.get_schedule("p").note == "maintenance"
    for _ in range(5):
        clock.advance(MINUTE)
        app.tick()
    assert started(app, "p") == []
    app.unpause_schedule("p")
    app.tick()
    # only the slot inside the 60 s catch-up window (09:04) runs; 09:00-09:03 are gone
    assert started(app, "p") == ["p@2026-01-05T09:04:00Z"]


def test_trigger_starts_one_run_now_subject_to_overlap(app: App, clock: ManualClock) -> None:
    app.create_schedule("t", "slow", cron="0 0 1 1 *")
    run = app.trigger_schedule("t")
    assert run.outcome == "started" and run.instance_id == "t@2026-01-05T08:59:30Z"
    clock.advance("1s")
    second = app.trigger_schedule("t")
    assert second.outcome == "skipped" and second.instance_id is None
    assert started(app, "t") == ["t@2026-01-05T08:59:30Z"]


def test_backfill_runs_each_slot_in_order_once(app: App) -> None:
    app.create_schedule("bf", "quick", cron="0 * * * *")
    start, end = at("2026-01-04T00:00:00+00:00"), at("2026-01-04T05:00:00+00:00")
    first = app.backfill_schedule("bf", start, end)
    assert [r.instance_id for r in first] == [f"bf@2026-01-04T0{h}:00:00Z" for h in range(6)]
    again = app.backfill_schedule("bf", start, end)
    assert [r.instance_id for r in again] == [r.instance_id for r in first]
    assert len(started(app, "bf")) == 6


def test_spring_forward_day_in_paris(tmp_path) -> None:
    clock = ManualClock(at("2026-03-28T12:00:00+01:00"))
    with App(database=str(tmp_path / "r.db"), worker_id="w", clock=clock, registry=registry) as app:
        app.create_schedule("daily", "quick", cron="30 2 * * *", timezone="Europe/Paris")
        app.create_schedule("halfhourly", "quick", cron="*/30 * * * *", timezone="Europe/Paris")
        app.tick(advance="1d")
        # 02:30 does not exist on 2026-03-29: Debian cron (cronsim) runs it at the jump, 03:00+02:00
        assert started(app, "daily") == ["daily@2026-03-29T03:00:00+02:00"]
        half = started(app, "halfhourly")
        assert "halfhourly@2026-03-29T01:30:00+01:00" in half and "halfhourly@2026-03-29T03:00:00+02:00" in half
        assert not [i for i in half if "T02:" in i]
        assert app.get("daily@2026-03-29T03:00:00+02:00").output["slot"] == "2026-03-29T03:00:00+02:00"


def test_fall_back_day_in_paris(tmp_path) -> None:
    clock = ManualClock(at("2026-10-24T12:00:00+02:00"))
    with App(database=str(tmp_path / "r.db"), worker_id="w", clock=clock, registry=registry) as app:
        app.create_schedule("daily", "quick", cron="30 2 * * *", timezone="Europe/Paris")
        app.create_schedule("halfhourly", "quick", cron="*/30 * * * *", timezone="Europe/Paris")
        app.tick(advance="1d")
        # 02:30 happens twice on 2026-10-25: a fixed-time job runs once, at the first
        assert started(app, "daily") == ["daily@2026-10-25T02:30:00+02:00"]
        # a job more frequent than hourly runs in both passes of the repeated hour
        repeated = [i for i in started(app, "halfhourly") if "T02:" in i]
        assert repeated == ["halfhourly@2026-10-25T02:00:00+01:00", "halfhourly@2026-10-25T02:00:00+02:00",
                            "halfhourly@2026-10-25T02:30:00+01:00", "halfhourly@2026-10-25T02:30:00+02:00"]


def test_bad_settings_are_refused_naming_them(app: App) -> None:
    cases = [
        (dict(cron="61 * * * *"), "invalid cron expression '61 * * * *'"),
        (dict(cron="0 9 * * *", timezone="Mars/Olympus"), "invalid timezone 'Mars/Olympus'"),
        (dict(every="fortnight"), "invalid --every interval 'fortnight'"),
        (dict(every="1m", overlap="sometimes"), "invalid --overlap 'sometimes'"),
        (dict(every="1m", catchup_window="-5"), "invalid --catchup-window"),
        (dict(every="1m", input={"nope": 1}), "its --input does not fit the workflow"),
    ]
    for settings, message in cases:
        with pytest.raises(UsageError, match=message.replace("*", r"\*").replace("(", r"\(")):
            app.create_schedule("bad", "quick", **settings)
    assert app.list_schedules() == []


def test_an_existing_id_is_refused_and_an_unknown_one_not_found(app: App) -> None:
    app.create_schedule("x", "quick", every="1h")
    with pytest.raises(UsageError, match="exists already.*romancy schedule update x"):
        app.create_schedule("x", "quick", every="2h")
    assert app.get_schedule("x").spec == {"every": "1h"}
    with pytest.raises(NotFoundError, match="no schedule 'y'"):
        app.trigger_schedule("y")
    with pytest.raises(NotFoundError):
        app.delete_schedule("y")


def test_update_moves_the_next_slot(app: App) -> None:
    app.create_schedule("u", "quick", cron="0 9 * * *")
    assert app.get_schedule("u").next_slot == at("2026-01-05T09:00:00+00:00")
    app.update_schedule("u", cron="0 10 * * *", note="later")
    updated = app.get_schedule("u")
    assert updated.next_slot == at("2026-01-05T10:00:00+00:00") and updated.note == "later"
    assert app.upcoming(updated, 3) == [at(f"2026-01-0{d}T10:00:00+00:00") for d in (5, 6, 7)]


def test_code_declared_schedules_follow_their_decorator(tmp_path, clock: ManualClock) -> None:
    code = Registry()

    @workflow("report", registry=code, schedule="0 9 * * MON-FRI", timezone="Europe/Paris")
    def report(ctx) -> str:
        return "ok"

    with App(database=str(tmp_path / "r.db"), worker_id="w", clock=clock, registry=code) as app:
        assert app.sync_schedules() == ["report"]
        declared = app.get_schedule("report")
        assert (declared.source, declared.spec, declared.timezone) == ("code", {"cron": ["0 9 * * MON-FRI"]},
                                                                         "Europe/Paris")
        assert app.sync_schedules() == []  # unchanged: nothing written

        @workflow("report", registry=code, every="15m")  # the module reloaded with a new decorator
        def report_again(ctx) -> str:
            return "ok"

        assert app.sync_schedules() == ["report"]
        assert app.get_schedule("report").spec == {"every": "15m"}
        code.workflows["report"].schedule = None  # the declaration removed
        assert app.sync_schedules() == ["report"]
        assert app.list_schedules() == []


def test_a_scheduled_workflow_needs_no_argument_without_default() -> None:
    with pytest.raises(WorkflowDefinitionError, match="give order_id a default value"):
        @workflow("needs_args", registry=Registry(), every="1h")
        def needs_args(ctx, order_id: str) -> None:
            pass
    with pytest.raises(WorkflowDefinitionError, match="invalid cron expression"):
        @workflow("bad_cron", registry=Registry(), schedule="every day")
        def bad_cron(ctx) -> None:
            pass


def test_a_schedule_id_names_its_instances_and_routes(app: App) -> None:
    for bad in ("a@b", "a/b", " padded", ""):
        with pytest.raises(UsageError, match="without '@', '/' or surrounding spaces"):
            app.create_schedule(bad, "quick", every="1h")
    with pytest.raises(WorkflowDefinitionError, match="named as the workflow"):
        @workflow("reports/daily", registry=Registry(), every="1d")
        def slashed(ctx) -> None:
            pass


def test_jitter_delays_each_slot_the_same_for_every_worker_and_keeps_its_id(app: App, clock: ManualClock) -> None:
    made = app.create_schedule("j", "quick", every="1h", jitter="10m")
    slot = at("2026-01-05T09:00:00+00:00")
    assert made.next_slot == slot and slot <= made.due_at <= slot + 600  # type: ignore[operator]
    assert app.get_schedule("j").due_at == made.due_at  # derived from the slot, not drawn per worker
    assert made.due_at == slot + 116.4  # this slot's delay: 116.4 s of the 10 minutes
    clock.set(slot + 1)
    app.tick()
    assert started(app, "j") == []
    clock.set(made.due_at)  # type: ignore[arg-type]
    app.tick()
    assert started(app, "j") == ["j@2026-01-05T09:00:00Z"]
