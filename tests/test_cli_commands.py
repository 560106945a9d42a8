"""start / status / send-event / cancel / tick through the installed `romancy` executable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


INSTANCE_KEYS = {"instance_id", "workflow", "status", "input", "output", "error", "created_at",
                 "updated_at", "waiting", "parked"}


def test_start_prints_the_id_alone_and_progress_on_stderr(project: Project) -> None:
    result = project.run("start", "add", "2", "3", "1.5", "yes")
    assert result.code == 0, result.stderr
    instance_id = result.stdout.strip()
    assert result.stdout == instance_id + "\n" and instance_id.startswith("add-")
    assert "doubling 2" in result.stderr  # the workflow's print went to stderr
    assert "✓ double  4" in result.stderr
    assert "completed" in result.stderr
    [(output,)] = project.rows("SELECT output FROM romancy_instances")
    assert json.loads(output) == {"sum": 7.5, "loud": True}


def test_start_with_id_is_idempotent_and_input_json(project: Project) -> None:
    first = project.run("start", "norm", "--id", "n-1", "--input", '{"p": {"x": -2, "y": 3}, "tags": ["a"]}')
    assert first.code == 0, first.stderr
    again = project.run("start", "norm", "--id", "n-1", "--json", "--input", '[{"x": 1, "y": 1}, []]')
    assert again.code == 0, again.stderr
    view = again.json
    assert view["created"] is False and view["instance_id"] == "n-1"
    assert view["output"] == {"norm": 5, "tags": ["a"]}
    assert "already exists" not in again.stderr  # --json: data only
    assert project.counts()["romancy_instances"] == 1
    positional = project.run("start", "norm", '{"x": 1, "y": 2}', '["t"]', "--json")
    assert positional.json["output"] == {"norm": 3, "tags": ["t"]}


def test_input_from_file_and_stdin(project: Project) -> None:
    project.write("args.json", '{"a": 4, "b": 0}')
    from_file = project.run("start", "add", "--input", "@args.json", "--json")
    assert from_file.json["output"] == {"sum": 4.0, "loud": False}
    from_stdin = project.run("start", "add", "--input", "-", "--json", input='[5]')
    assert from_stdin.json["output"] == {"sum": 6.0, "loud": False}


def test_event_resumes_the_waiting_instance(project: Project) -> None:
    started = project.run("start", "order", "ORD-1")
    instance_id = started.stdout.strip()
    assert "⏸ waiting for payment.completed" in started.stderr
    assert "(timeout 1h)" in started.stderr
    other = project.run("send-event", "payment.completed", "--data", '{"order_id": "ORD-2", "amount": 1}')
    assert other.code == 0
    assert "no instance was waiting for it" in other.stderr
    sent = project.run("send-event", "payment.completed", "--source", "shop", "--id", "e-1",
                       "--data", '{"order_id": "ORD-1", "amount": 99.99}', "--subject", "ORD-1")
    assert sent.code == 0, sent.stderr
    assert sent.stdout == ""
    assert f"resumed 1 instance: {instance_id} → completed" in sent.stderr
    duplicate = project.run("send-event", "payment.completed", "--source", "shop", "--id", "e-1",
                            "--data", '{"order_id": "ORD-1", "amount": 1}', "--json")
    assert duplicate.code == 0
    assert duplicate.json == {"event_id": "e-1", "duplicate": True, "delivered": [], "started": [], "resumed": []}
    shown = project.run("status", instance_id, "--json").json
    assert shown["output"] == {"order_id": "ORD-1", "status": "paid", "amount": 99.99}
    assert [s["kind"] for s in shown["history"]] == ["activity", "event"]
    assert shown["history"][1]["result"]["subject"] == "ORD-1"


def test_targeted_event_no_resume_then_tick(project: Project) -> None:
    a = project.run("start", "order", "SAME").stdout.strip()
    b = project.run("start", "order", "SAME").stdout.strip()
    sent = project.run("send-event", "payment.completed", "--instance", b, "--no-resume", "--json",
                       "--data", '{"order_id": "SAME", "amount": 2}')
    assert sent.code == 0, sent.stderr
    assert sent.json["delivered"] == [b] and sent.json["resumed"] == []
    assert project.status_of(a) == "waiting_for_event"
    ticked = project.run("tick", "--json")
    assert ticked.code == 0, ticked.stderr
    assert ticked.json["resumed"] == [{"instance_id": b, "status": "completed"}]
    assert project.status_of(b) == "completed" and project.status_of(a) == "waiting_for_event"


def test_tick_advance_fires_a_sleeping_workflow(project: Project) -> None:
    instance_id = project.run("start", "napper").stdout.strip()
    assert project.status_of(instance_id) == "waiting_for_timer"
    early = project.run("tick")
    assert early.code == 0
    assert "fired 0, resumed 0; next due at" in early.stderr
    ticked = project.run("tick", "--advance", "2h")
    assert ticked.code == 0, ticked.stderr
    assert "fired 1, resumed 1" in ticked.stderr
    assert f"{instance_id} → completed" in ticked.stderr
    assert project.status_of(instance_id) == "completed"


def test_tick_now_and_timeouts(project: Project) -> None:
    instance_id = project.run("start", "order", "LATE").stdout.strip()
    result = project.run("tick", "--now", "2999-01-01T00:00:00Z", "--json")
    assert result.code == 0, result.stderr
    assert result.json["resumed"] == [{"instance_id": instance_id, "status": "completed"}]
    assert result.json["next_due_at"] is None
    shown = project.run("status", instance_id, "--json").json
    assert shown["output"] == {"order_id": "LATE", "status": "expired"}


def test_cancel(project: Project) -> None:
    instance_id = project.run("start", "order", "C").stdout.strip()
    result = project.run("cancel", instance_id, "--reason", "customer asked")
    assert result.code == 0, result.stderr
    assert f"cancelled {instance_id} (was waiting_for_event)" in result.stderr
    view = project.run("status", instance_id, "--json").json
    assert view["status"] == "cancelled"
    assert view["error"] == {"type": "Cancelled", "message": "customer asked"}
    again = project.run("cancel", instance_id)
    assert again.code == 1
    assert "already cancelled" in again.error_line


def test_failed_workflow_exits_1_and_status_shows_the_error(project: Project) -> None:
    result = project.run("start", "boom", "kaput")
    assert result.code == 1
    instance_id = result.stdout.strip()
    assert "ValueError: kaput" in result.error_line
    detail = project.run("status", instance_id)
    assert "error     ValueError: kaput" in detail.stderr
    assert "Traceback" not in detail.stderr
    verbose = project.run("status", instance_id, "-v")
    assert 'raise ValueError(message)' in verbose.stderr


def test_status_table_filters_and_empty_database(tmp_path, project: Project) -> None:
    empty = project.run("status", "--json")
    assert empty.code == 0 and empty.json == []
    assert not project.db.exists()  # looking does not create the database
    project.run("start", "napper")
    project.run("start", "add", "1")
    table = project.run("status")
    assert table.stdout == ""
    assert "INSTANCE" in table.stderr and "waiting_for_timer" in table.stderr and "timer " in table.stderr
    only = project.run("status", "--status", "completed", "--json").json
    assert [i["workflow"] for i in only] == ["add"]
    by_workflow = project.run("status", "--workflow", "napper", "--json").json
    assert [i["workflow"] for i in by_workflow] == ["napper"]
    assert len(project.run("status", "--limit", "1", "--json").json) == 1


def test_status_wait(project: Project) -> None:
    done = project.run("start", "add", "1").stdout.strip()
    reached = project.run("status", done, "--wait", "--json")
    assert reached.code == 0 and reached.json["status"] == "completed"
    waiting = project.run("start", "napper").stdout.strip()
    timed_out = project.run("status", waiting, "--wait", "completed", "--timeout", "0.3s")
    assert timed_out.code == 1
    assert "timed out after 0.3s" in timed_out.error_line
    now = project.run("status", waiting, "--wait", "waiting_for_timer", "--json")
    assert now.code == 0 and now.json["waiting"]["timer_due_at"].endswith("Z")
    failed = project.run("start", "boom", "x").stdout.strip()
    ended = project.run("status", failed, "--wait", "completed")
    assert ended.code == 1 and "ended failed, not completed" in ended.error_line


def test_json_shapes_are_pinned(project: Project) -> None:
    """The shapes of README "JSON shapes (stable)"; a change here is a change of public interface."""
    instance_id = project.run("start", "order", "ORD-9", "--id", "pinned").stdout.strip()
    one = project.run("status", instance_id, "--json").json
    assert set(one) == INSTANCE_KEYS | {"history"}
    assert one["input"] == {"args": ["ORD-9"], "kwargs": {}}
    assert one["output"] is None and one["error"] is None and one["parked"] is False
    assert set(one["waiting"]) == {"event_type", "timeout_at"}
    assert one["waiting"]["event_type"] == "payment.completed"
    for key in ("created_at", "updated_at"):
        assert one[key].endswith("Z") and "T" in one[key]
    assert one["history"] == [{"step": 0, "kind": "activity", "name": "double", "result": {"value": 42}}]
    listed = project.run("status", "--json").json
    assert isinstance(listed, list) and set(listed[0]) == INSTANCE_KEYS
    started = project.run("start", "napper", "--json").json
    assert set(started) == INSTANCE_KEYS | {"created"}
    assert set(started["waiting"]) == {"timer_due_at"}
    sent = project.run("send-event", "payment.completed", "--json",
                       "--data", '{"order_id": "ORD-9", "amount": 1}').json
    assert set(sent) == {"event_id", "duplicate", "delivered", "started", "resumed"}
    assert sent["resumed"] == [{"instance_id": "pinned", "status": "completed"}]
    ticked = project.run("tick", "--json").json
    assert set(ticked) == {"fired", "resumed", "next_due_at"}
    failed = project.run("start", "boom", "x", "--json")
    assert failed.json["error"] == {"type": "ValueError", "message": "x"}
