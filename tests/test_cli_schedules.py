"""`romancy schedule ...` and scheduled firing through the real executable: verbs and their
errors, time travel with `tick --advance`, code-declared schedules following their decorator, and
`tick` killed while firing, again and again."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cli_helpers import Project, make_project

WORKFLOWS = '''
from romancy_cli import activity, workflow


@activity
def note(ctx, slot: str) -> None:
    with open("ran.txt", "a") as out:
        out.write(slot + "\\n")


@workflow("greet")
def greet(ctx, who: str = "world") -> str:
    return f"hello {who}"


@workflow("noted")
def noted(ctx) -> str:
    note.execute(ctx, ctx.scheduled_at.isoformat())
    return "ok"
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", WORKFLOWS)
    return proj


def schedule_rows(project: Project) -> list[tuple]:
    return project.rows("SELECT schedule_id, workflow, spec, timezone, paused, note FROM romancy_schedules "
                        "ORDER BY schedule_id")


def test_create_describe_list_and_the_json_shape(project: Project) -> None:
    made = project.run("schedule", "create", "hi", "--workflow", "greet", "--cron", "0 9 * * MON-FRI",
                       "--timezone", "Europe/Paris", "--input", '{"who": "team"}', "--note", "standup")
    assert made.code == 0, made.stderr
    assert made.stdout == "hi\n" and "created schedule hi" in made.stderr
    view = project.run("schedule", "describe", "hi", "--json").json
    assert set(view) == {"schedule_id", "workflow", "spec", "timezone", "input", "overlap", "catchup_window",
                         "jitter", "paused", "note", "source", "next_fire_at", "last_fired_at", "recent",
                         "upcoming"}
    assert (view["spec"], view["timezone"], view["overlap"], view["catchup_window"], view["source"]) == (
        {"cron": ["0 9 * * MON-FRI"]}, "Europe/Paris", "skip", "1m", "cli")
    assert view["input"] == {"who": "team"} and view["note"] == "standup" and view["paused"] is False
    assert len(view["upcoming"]) == 5
    assert all(datetime.fromisoformat(u).strftime("%H:%M %a") in {f"09:00 {d}" for d in
                                                                   ("Mon", "Tue", "Wed", "Thu", "Fri")}
               for u in view["upcoming"])
    assert view["next_fire_at"].endswith("Z") and view["last_fired_at"] is None and view["recent"] == []
    listed = project.run("schedule", "list", "--json").json
    assert [s["schedule_id"] for s in listed] == ["hi"] and "upcoming" not in listed[0]
    lines = project.run("schedule", "list", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["schedule_id"] for line in lines] == ["hi"]
    table = project.run("schedule", "list")
    assert table.stdout.splitlines()[0].split() == ["ID", "WORKFLOW", "SPEC", "TIMEZONE", "NEXT", "STATE", "SOURCE"]


@pytest.mark.parametrize("args, message", [
    (["--cron", "61 * * * *"], "invalid cron expression '61 * * * *' in --cron"),
    (["--cron", "0 9 * * *", "--timezone", "Mars/Olympus"], "invalid timezone 'Mars/Olympus'"),
    (["--every", "soon"], "invalid --every interval 'soon'"),
    (["--every", "1m", "--catchup-window", "a while"], "invalid --catchup-window 'a while'"),
    (["--every", "1m", "--jitter", "-3"], "invalid --jitter '-3'"),
    (["--every", "1m", "--overlap", "queue"], "invalid --overlap 'queue'"),
    (["--every", "1m", "--input", "[1]"], "--input must be a JSON object"),
    (["--every", "1m", "--input", '{"whom": 1}'], "its --input does not fit the workflow"),
    ([], "give a cron expression or an interval"),
])
def test_bad_settings_are_exit_2_naming_them_and_store_nothing(project: Project, args: list, message: str) -> None:
    result = project.run("schedule", "create", "bad", "--workflow", "greet", *args)
    assert result.code == 2, result.stderr
    assert message in result.error_line
    assert not project.db.exists() or schedule_rows(project) == []


def test_an_existing_id_is_exit_2_and_unknown_ids_exit_3(project: Project) -> None:
    assert project.run("schedule", "create", "x", "--workflow", "greet", "--every", "1h").code == 0
    again = project.run("schedule", "create", "x", "--workflow", "greet", "--every", "2h")
    assert again.code == 2 and "schedule 'x' exists already" in again.error_line and "update" in again.error_line
    assert json.loads(schedule_rows(project)[0][2]) == {"every": "1h"}
    for verb in (["describe"], ["update", "--every", "5m"], ["delete"], ["pause"], ["unpause"], ["trigger"],
                 ["backfill", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"]):
        result = project.run("schedule", verb[0], "nope", *verb[1:])
        assert result.code == 3, (verb, result.stderr)
        assert "no schedule 'nope'" in result.error_line
    unknown = project.run("schedule", "create", "y", "--workflow", "gret", "--every", "1h")
    assert unknown.code == 2 and "did you mean 'greet'" in unknown.error_line


def test_update_pause_unpause_trigger_backfill_delete(project: Project) -> None:
    assert project.run("schedule", "create", "h", "--workflow", "greet", "--every", "1h").code == 0
    updated = project.run("schedule", "update", "h", "--cron", "30 * * * *", "--note", "half past", "--json").json
    assert updated["spec"] == {"cron": ["30 * * * *"]} and updated["note"] == "half past"
    paused = project.run("schedule", "pause", "h", "--note", "holiday", "--json").json
    assert paused["paused"] is True and paused["note"] == "holiday" and paused["next_fire_at"] is None
    assert project.run("schedule", "unpause", "h", "--json").json["paused"] is False
    triggered = project.run("schedule", "trigger", "h")
    assert triggered.code == 0, triggered.stderr
    instance_id = triggered.stdout.strip()
    assert instance_id.startswith("h@") and project.status_of(instance_id) == "completed"
    filled = project.run("schedule", "backfill", "h", "--start", "2026-01-01T00:00:00Z",
                         "--end", "2026-01-01T02:59:59Z", "--json").json
    assert [r["instance_id"] for r in filled] == ["h@2026-01-01T00:30:00Z", "h@2026-01-01T01:30:00Z",
                                                  "h@2026-01-01T02:30:00Z"]
    assert {r["status"] for r in filled} == {"completed"}
    shown = project.run("status", "h@2026-01-01T01:30:00Z")
    assert "schedule  h, slot 2026-01-01T01:30:00+00:00" in shown.stdout
    recent = project.run("schedule", "describe", "h", "--json").json["recent"]
    assert [r["instance_id"] for r in recent][:3] == [instance_id, "h@2026-01-01T02:30:00Z", "h@2026-01-01T01:30:00Z"]
    assert project.run("schedule", "delete", "h").code == 0
    assert schedule_rows(project) == []
    assert project.status_of(instance_id) == "completed"  # its instances stay


def test_tick_advance_starts_one_instance_per_slot_over_a_thousand_minutes(project: Project) -> None:
    assert project.run("schedule", "create", "m", "--workflow", "greet", "--cron", "* * * * *").code == 0
    first = project.rows("SELECT next_slot FROM romancy_schedules")[0][0]
    ticked = project.run("tick", "--advance", "1000m", timeout=300)
    assert ticked.code == 0, ticked.stderr
    again = project.run("tick", "--advance", "1000m", timeout=300)
    assert again.code == 0, again.stderr
    last = project.rows("SELECT next_slot FROM romancy_schedules")[0][0]
    started = project.rows("SELECT instance_id, status FROM romancy_instances WHERE instance_id LIKE 'm@%'")
    expected = int((last - first) // 60)
    assert expected >= 1000 and len(started) == expected  # every minute once, the second tick's few more too
    assert {status for _, status in started} == {"completed"}
    assert len({iid for iid, _ in started}) == len(started)


def test_a_code_schedule_follows_its_decorator(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + '''

@workflow("report", schedule="0 9 * * *", timezone="Europe/Paris")
def report(ctx) -> str:
    return "sent"
''')
    listed = project.run("schedule", "list", "--json").json
    assert [(s["schedule_id"], s["source"], s["spec"]) for s in listed] == [
        ("report", "code", {"cron": ["0 9 * * *"]})]
    project.write("workflows.py", WORKFLOWS + '''

@workflow("report", every="15m")
def report(ctx) -> str:
    return "sent"
''')
    assert project.run("tick").code == 0  # any command that loads the modules
    assert [(r[0], json.loads(r[2]), r[3]) for r in schedule_rows(project)] == [("report", {"every": "15m"}, "UTC")]
    project.write("workflows.py", WORKFLOWS)
    assert project.run("workflows").code == 0  # reads no database: the schedule stays
    assert len(schedule_rows(project)) == 1
    assert project.run("schedule", "list").code == 0
    assert schedule_rows(project) == []


def test_tick_killed_while_firing_never_starts_a_slot_twice_nor_loses_one(project: Project) -> None:
    assert project.run("schedule", "create", "k", "--workflow", "noted", "--every", "1m").code == 0
    first = project.rows("SELECT next_slot FROM romancy_schedules")[0][0]

    def started() -> int:
        return project.rows("SELECT COUNT(*) FROM romancy_instances")[0][0]

    for _ in range(8):
        before = started()
        proc = project.popen("tick", "--advance", "120m")
        deadline = time.monotonic() + 10  # a liveness bound: it is killed mid-firing, not timed
        while time.monotonic() < deadline and proc.poll() is None and started() < before + 3:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = project.run("tick", "--advance", "120m", timeout=120)
    assert final.code == 0, final.stderr
    last = project.rows("SELECT next_slot FROM romancy_schedules")[0][0]
    slots = [first + 60 * n for n in range(int((last - first) // 60))]
    rows = project.rows("SELECT instance_id, status FROM romancy_instances")
    assert len(rows) == len(slots) >= 120
    assert {status for _, status in rows} == {"completed"}
    expected = {datetime.fromtimestamp(slot, timezone.utc).isoformat() for slot in slots}
    ran = (project.root / "ran.txt").read_text().splitlines()
    assert set(ran) == expected  # every slot's activity ran; a killed one again, at least once
    recorded = project.rows("SELECT slot, outcome FROM romancy_schedule_runs ORDER BY slot")
    assert [slot for slot, _ in recorded] == slots[-100:] and {o for _, o in recorded} == {"started"}


def test_serve_reload_updates_a_code_schedule_and_fires_it(project: Project) -> None:
    from test_serve_cli import start_server

    def spec() -> dict:
        rows = schedule_rows(project)
        return json.loads(rows[0][2]) if rows else {}

    project.write("workflows.py", WORKFLOWS + '''

@workflow("pulse", schedule="0 0 1 1 *")
def pulse(ctx) -> str:
    return "beat"
''')
    served = start_server(project, "--reload")
    try:
        assert served.until(lambda: spec() == {"cron": ["0 0 1 1 *"]})
        project.write("workflows.py", WORKFLOWS + '''

@workflow("pulse", every="1s")
def pulse(ctx) -> str:
    return "beat"
''')
        assert served.until(lambda: spec() == {"every": "1s"})
        assert served.until(lambda: bool(project.rows(
            "SELECT 1 FROM romancy_instances WHERE instance_id LIKE 'pulse@%' AND status = 'completed'")))
    finally:
        code, err = served.stop()
    assert code == 0 and "reloading" in err


def test_tick_loop_killed_again_and_again_loses_no_slot_of_the_catchup_window(project: Project) -> None:
    assert project.run("schedule", "create", "s", "--workflow", "noted", "--every", "1s").code == 0

    def started() -> int:
        return project.rows("SELECT COUNT(*) FROM romancy_instances")[0][0]

    for _ in range(5):  # each process lives until it has started a slot or two, then is killed
        before = started()
        proc = project.popen("tick", "--loop", "--interval", "0.2")
        deadline = time.monotonic() + 10  # a liveness bound, not a timing assertion
        while time.monotonic() < deadline and started() < before + 2:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert project.run("tick").code == 0  # recovers a run the last kill interrupted
    runs = project.rows("SELECT slot, outcome, instance_id FROM romancy_schedule_runs ORDER BY slot")
    slots = [slot for slot, _, _ in runs]
    assert slots == [slots[0] + n for n in range(len(slots))] and len(slots) >= 10  # no gap: none lost
    assert {outcome for _, outcome, _ in runs} <= {"started", "skipped"}
    rows = project.rows("SELECT instance_id, status FROM romancy_instances")
    assert sorted(iid for iid, _ in rows) == sorted(iid for _, outcome, iid in runs if outcome == "started")
    assert {status for _, status in rows} == {"completed"}
    ran = (project.root / "ran.txt").read_text().splitlines()
    assert len(set(ran)) == len(rows)  # each started slot's activity ran (a killed one again, at least once)


def test_replay_check_writes_no_schedule(project: Project) -> None:
    assert project.run("start", "greet").code == 0  # the database exists
    project.write("workflows.py", WORKFLOWS + '''

@workflow("report", every="1h")
def report(ctx) -> str:
    return "sent"
''')
    checked = project.run("replay", "--check")
    assert checked.code == 0, checked.stderr
    assert schedule_rows(project) == []
    assert project.run("tick").code == 0
    assert [row[0] for row in schedule_rows(project)] == ["report"]


def test_a_code_schedule_is_changed_in_code_not_by_command(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + '''

@workflow("report", schedule="0 9 * * *")
def report(ctx) -> str:
    return "sent"
''')
    assert project.run("schedule", "list").code == 0
    moved = project.run("schedule", "update", "report", "--cron", "0 10 * * *")
    assert moved.code == 2 and "declared in code" in moved.error_line and "decorator" in moved.error_line
    deleted = project.run("schedule", "delete", "report")
    assert deleted.code == 2 and "remove schedule=/every= from its @workflow" in deleted.error_line
    assert json.loads(schedule_rows(project)[0][2]) == {"cron": ["0 9 * * *"]}
    noted = project.run("schedule", "update", "report", "--overlap", "allow_all", "--note", "ok here", "--json")
    assert noted.code == 0 and noted.json["overlap"] == "allow_all" and noted.json["note"] == "ok here"
    assert project.run("schedule", "pause", "report").code == 0
