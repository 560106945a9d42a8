"""The command line against a real PostgreSQL database (`--database postgresql://...`)."""

from __future__ import annotations

from pathlib import Path

from romancy_cli import App

from cli_helpers import Project

WORKFLOWS = '''
from romancy_cli import activity, sleep, wait_event, workflow

@activity
def reserve(ctx, order_id: str) -> str:
    return "RSV-" + order_id

@workflow
def pg_order(ctx, order_id: str) -> dict:
    reservation = reserve.execute(ctx, order_id)
    paid = wait_event(ctx, "order.paid", match={"order_id": order_id})
    sleep(ctx, "1h")
    return {"reservation": reservation, "amount": paid.data["amount"]}
'''


def test_start_send_event_tick_status_cancel_on_postgres(tmp_path: Path, pg_url: str) -> None:
    project = Project(tmp_path)
    project.write("romancy.toml", 'workflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS)
    db = ("--database", pg_url)

    started = project.run("start", "pg_order", "A1", *db)
    assert started.code == 0, started.stderr
    instance_id = started.stdout.strip()
    sent = project.run("send-event", "order.paid", "--data", '{"order_id": "A1", "amount": 5}', "--json", *db)
    assert sent.code == 0 and sent.json["resumed"] == [{"instance_id": instance_id, "status": "waiting_for_timer"}]
    ticked = project.run("tick", "--advance", "2h", "--json", *db)
    assert ticked.code == 0 and ticked.json["resumed"] == [{"instance_id": instance_id, "status": "completed"}]
    shown = project.run("status", instance_id, "--json", *db)
    assert shown.code == 0 and shown.json["output"] == {"reservation": "RSV-A1", "amount": 5}
    assert [step["kind"] for step in shown.json["history"]] == ["activity", "event", "timer"]

    other = project.run("start", "pg_order", "B2", *db).stdout.strip()
    assert project.run("cancel", other, *db).code == 0
    with App(pg_url) as app:
        assert {i.instance_id: i.status for i in app.list_instances()} == {
            instance_id: "completed", other: "cancelled"}
    assert not (tmp_path / "romancy.db").exists()  # nothing went to a SQLite file


def test_unreachable_postgres_exits_4_with_one_line(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write("romancy.toml", 'workflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS)
    result = project.run("status", "--database", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert result.code == 4 and "127.0.0.1:1" in result.error_line and "secret" not in result.stderr
