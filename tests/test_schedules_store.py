"""Schedules on both back ends: schema 9's migration of an existing database, and the firing
step's compare-and-set (a stale step writes nothing, its instance included)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from romancy_cli import App, ManualClock, Registry, workflow
from romancy_cli.records import RUNNING, Instance, ScheduleAdvance, ScheduleRun
from romancy_cli.store.schema import SCHEMA_VERSION

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
registry = Registry()


@workflow("store_beat", registry=registry)
def store_beat(ctx) -> str:
    return "beat"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "romancy.db")
    return str(request.getfixturevalue("pg_url"))


def test_a_version_8_database_gets_the_schedule_tables_and_keeps_its_instances(url: str) -> None:
    with App(database=url, worker_id="v8", clock=ManualClock(NOW), registry=registry) as app:
        iid = app.start("store_beat")
        db = app.store.db
        with db.atomic():
            db.execute_sql("DROP TABLE romancy_schedule_runs")
            db.execute_sql("DROP TABLE romancy_schedules")
            app.store.m.Meta.update(value="8").where(app.store.m.Meta.key == "schema_version").execute()
    with App(database=url, worker_id="v9", clock=ManualClock(NOW), registry=registry) as app:
        store = app.store
        assert store.m.Meta.get(store.m.Meta.key == "schema_version").value == str(SCHEMA_VERSION)
        assert app.get(iid).status == "completed"
        app.create_schedule("beat", "store_beat", every="1m")
        app.tick(advance="3m")
        assert sorted(i.instance_id for i in app.list_instances() if i.instance_id.startswith("beat@")) == [
            "beat@2023-11-14T22:14:00Z", "beat@2023-11-14T22:15:00Z", "beat@2023-11-14T22:16:00Z"]


def test_a_stale_firing_step_writes_nothing(url: str) -> None:
    with App(database=url, worker_id="w", clock=ManualClock(NOW), registry=registry) as app:
        schedule = app.create_schedule("cas", "store_beat", every="1m")
        slot = schedule.next_slot
        assert slot is not None
        instance = Instance("cas@2023-11-14T22:14:00Z", "store_beat", RUNNING, [], {}, NOW, NOW)
        step = ScheduleAdvance("cas", schedule.version, slot + 60, slot + 60, None,
                               (ScheduleRun(slot, "started", instance.instance_id),), instance, NOW)
        assert app.store.advance_schedule(step, NOW, "owner", NOW + 30) is True
        stale = replace(step, next_slot=slot + 120, due_at=slot + 120,
                        start=replace(instance, instance_id="cas@other"))
        assert app.store.advance_schedule(stale, NOW, "owner", NOW + 30) is False
        assert app.store.get("cas@other") is None
        current = app.get_schedule("cas")
        assert (current.next_slot, current.version, current.last_instance) == (slot + 60, 1, instance.instance_id)
        assert [(r.slot, r.outcome) for r in app.schedule_runs("cas")] == [(slot, "started")]
