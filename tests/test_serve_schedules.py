"""Schedules under `romancy serve`: its timer loop fires them (no tick), the JSON routes and their
actions with the Origin rule, and two `serve` processes on one PostgreSQL database that never
start a slot twice."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import psycopg
import pytest
import requests

from romancy_cli import App, Registry, workflow
from romancy_cli.serve import Server

from multiworker_support import Server as ServeProcess
from cli_helpers import Project
from serve_support import Running, wait_for

registry = Registry()


@workflow("tock", registry=registry)
def tock(ctx, label: str = "tock") -> str:
    return f"{label} {ctx.scheduled_at.isoformat()}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    app = App(str(tmp_path / "romancy.db"), registry=registry).initialize()
    http = Server(app, host="127.0.0.1", port=0)
    http.start()
    try:
        yield Running(http, tmp_path / "romancy.db")
    finally:
        http.close()
        app.shutdown()


def scheduled(app: App, schedule_id: str) -> list[str]:
    return [i.instance_id for i in app.list_instances() if i.instance_id.startswith(schedule_id + "@")]


def test_the_timer_loop_fires_a_schedule_without_tick(server: Running) -> None:
    server.app.create_schedule("beat", "tock", every="1s")
    assert wait_for(lambda: len(scheduled(server.app, "beat")) >= 2)
    first = sorted(scheduled(server.app, "beat"))[0]
    assert wait_for(lambda: server.app.get(first).status == "completed")
    assert server.app.get(first).output == f"tock {first.split('@', 1)[1].replace('Z', '+00:00')}"


def test_schedule_routes_answer_the_cli_json(server: Running) -> None:
    server.app.create_schedule("daily", "tock", cron="0 9 * * *", timezone="Europe/Paris", note="n")
    listed = requests.get(server.url + "schedules", timeout=10)
    assert listed.status_code == 200
    assert [s["schedule_id"] for s in listed.json()] == ["daily"]
    one = requests.get(server.url + "schedules/daily", timeout=10).json()
    assert one["spec"] == {"cron": ["0 9 * * *"]} and len(one["upcoming"]) == 5 and one["note"] == "n"
    missing = requests.get(server.url + "schedules/nope", timeout=10)
    assert missing.status_code == 404 and "no schedule 'nope'" in missing.json()["error"]


def test_pause_unpause_trigger_over_http_and_the_origin_rule(server: Running) -> None:
    server.app.create_schedule("daily", "tock", cron="0 9 * * *")
    refused = requests.post(server.url + "schedules/daily/pause", headers={"Origin": "http://evil.example"},
                            timeout=10)
    assert refused.status_code == 403 and server.app.get_schedule("daily").paused is False
    paused = requests.post(server.url + "schedules/daily/pause", timeout=10)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert server.app.get_schedule("daily").paused is True
    assert requests.post(server.url + "schedules/daily/unpause", timeout=10).json()["paused"] is False
    triggered = requests.post(server.url + "schedules/daily/trigger", timeout=10)
    assert triggered.status_code == 200
    body = triggered.json()
    assert body["status"] == "completed" and server.app.get(body["instance_id"]).status == "completed"
    assert requests.post(server.url + "schedules/nope/trigger", timeout=10).status_code == 404
    assert requests.get(server.url + "schedules/daily/trigger", timeout=10).status_code == 405


WORKFLOWS = '''
from romancy_cli import activity, workflow


@activity
def record(ctx, slot: str) -> None:
    with open({effects!r}, "a", encoding="utf-8") as out:
        out.write(slot + "\\n")


@workflow("every_second", every="1s")
def every_second(ctx) -> str:
    record.execute(ctx, ctx.scheduled_at.isoformat())
    return "ok"
'''


def test_two_servers_on_postgresql_never_start_a_slot_twice(tmp_path: Path, pg_url: str) -> None:
    project = Project(tmp_path / "proj")
    project.root.mkdir()
    effects = project.root / "effects.txt"
    project.write("romancy.toml", f'database = "{pg_url}"\nworkflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS.format(effects=str(effects)))

    def rows(sql: str) -> list[tuple]:
        with psycopg.connect(pg_url) as conn:
            return conn.execute(sql).fetchall()

    servers = [ServeProcess(project, f"serve{n}") for n in range(2)]
    try:
        for server in servers:
            server.wait_live()
        assert wait_for(lambda: len(rows("SELECT 1 FROM romancy_instances WHERE status = 'completed'")) >= 5, 60)
    finally:
        codes = [server.stop() for server in servers]
    assert codes == [0, 0], [s.stderr() for s in servers]
    instances = rows("SELECT instance_id, status FROM romancy_instances")
    runs = rows("SELECT slot, outcome, instance_id FROM romancy_schedule_runs ORDER BY slot")
    started = [r for r in runs if r[1] == "started"]
    assert sorted(iid for _, _, iid in started) == sorted(iid for iid, _ in instances)
    slots = [slot for slot, _, _ in runs]
    assert slots == [slots[0] + n for n in range(len(slots))]  # every second once, none twice
    lines = effects.read_text().splitlines()
    assert len(lines) == len(set(lines)) == len([s for s in instances if s[1] == "completed"])
