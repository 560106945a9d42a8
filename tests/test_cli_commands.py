"""start / status / send-event / cancel / tick through the installed `romancy` executable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli_helpers import WORKFLOWS, Project, cli_env, make_project, romancy_executable


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


INSTANCE_KEYS = {"instance_id", "workflow", "status", "input", "output", "error", "created_at",
                 "updated_at", "waiting", "continued_from", "continued_as", "parent_id", "queue"}


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
    assert 'none matched: data.order_id is "ORD-2", wanted "ORD-1"' in other.stderr
    sent = project.run("send-event", "payment.completed", "--source", "shop", "--id", "e-1",
                       "--data", '{"order_id": "ORD-1", "amount": 99.99}', "--subject", "ORD-1")
    assert sent.code == 0, sent.stderr
    assert sent.stdout == ""
    assert f"resumed 1 instance: {instance_id} → completed" in sent.stderr
    duplicate = project.run("send-event", "payment.completed", "--source", "shop", "--id", "e-1",
                            "--data", '{"order_id": "ORD-1", "amount": 1}', "--json")
    assert duplicate.code == 0
    assert duplicate.json == {"event_id": "e-1", "duplicate": True, "delivered": [], "started": [], "resumed": [],
                              "near_misses": []}
    shown = project.run("status", instance_id, "--json").json
    assert shown["output"] == {"order_id": "ORD-1", "status": "paid", "amount": 99.99}
    assert [s["kind"] for s in shown["history"]] == ["activity", "event"]
    assert shown["history"][1]["result"]["subject"] == "ORD-1"


TWICE = """

@workflow
def twice(ctx) -> str:
    print("body ran")
    wait_event(ctx, "go")
    wait_event(ctx, "go")
    return "done"
"""


def test_duplicate_event_does_not_run_the_workflow_body(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + TWICE)
    instance_id = project.run("start", "twice").stdout.strip()
    first = project.run("send-event", "go", "--id", "e-1")
    assert "body ran" in first.stderr and f"{instance_id} → waiting_for_event" in first.stderr
    duplicate = project.run("send-event", "go", "--id", "e-1")
    assert duplicate.code == 0, duplicate.stderr
    assert "body ran" not in duplicate.stderr
    assert "duplicate event (source romancy-cli, id e-1)" in duplicate.stderr
    assert project.counts()["romancy_steps"] == 1


LOGS = """

@workflow
def chatty(ctx) -> str:
    ctx.log("before %s", "the wait")
    wait_event(ctx, "go")
    ctx.log("after the wait")
    return "done"
"""


def test_ctx_log_prints_only_what_is_not_replayed(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + LOGS)
    started = project.run("start", "chatty")
    assert "before the wait" in started.stderr and started.stdout.startswith("chatty-")
    sent = project.run("send-event", "go")
    assert "after the wait" in sent.stderr and "before the wait" not in sent.stderr


def test_parked_is_one_status_in_tables_filters_and_json(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + TWICE)
    instance_id = project.run("start", "twice").stdout.strip()
    project.write("workflows.py", WORKFLOWS + TWICE.replace('wait_event(ctx, "go")\n', 'sleep(ctx, 1)\n', 1))
    sent = project.run("send-event", "go")
    assert f"{instance_id} → parked" in sent.stderr
    listed = project.run("status", "--status", "parked", "--json").json
    assert [(i["instance_id"], i["status"]) for i in listed] == [(instance_id, "parked")]
    assert "parked" not in listed[0]
    assert project.run("status", "--status", "running", "--json").json == []
    assert f"{instance_id}  twice     parked" in project.run("status").stdout
    assert project.rows("SELECT status, parked FROM romancy_instances") == [("running", 1)]


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
    assert view["error"] == {"type": "Cancelled", "message": "customer asked", "where": None}
    again = project.run("cancel", instance_id)
    assert again.code == 1
    assert "already cancelled" in again.error_line


def test_failed_workflow_exits_1_and_status_shows_the_error(project: Project) -> None:
    result = project.run("start", "boom", "kaput")
    assert result.code == 1
    instance_id = result.stdout.strip()
    assert "ValueError: kaput" in result.error_line
    detail = project.run("status", instance_id)
    assert "error     ValueError: kaput" in detail.stdout
    assert "Traceback" not in detail.stdout + detail.stderr
    verbose = project.run("status", instance_id, "-v")
    assert 'raise ValueError(message)' in verbose.stdout


BOOM_LINE = WORKFLOWS.splitlines().index("    raise ValueError(message)") + 1
FLAKY = """

@activity
def flaky(ctx) -> int:
    raise RuntimeError("card declined")


@workflow
def charges(ctx) -> int:
    wait_event(ctx, "go")
    return flaky.execute(ctx)
"""


def test_failures_point_at_the_users_file_and_line(project: Project) -> None:
    project.write("workflows.py", WORKFLOWS + FLAKY)
    started = project.run("start", "boom", "kaput")
    assert started.error_line.endswith(f"ValueError: kaput (at workflows.py:{BOOM_LINE})")
    detail = project.run("status", started.stdout.strip())
    assert f"error     ValueError: kaput (at workflows.py:{BOOM_LINE})" in detail.stdout
    flaky_line = (WORKFLOWS + FLAKY).splitlines().index('    raise RuntimeError("card declined")') + 1
    instance_id = project.run("start", "charges").stdout.strip()
    sent = project.run("send-event", "go")
    assert f"✗ {instance_id}: ActivityError: " in sent.stderr
    assert f"RuntimeError: card declined (at workflows.py:{flaky_line})" in sent.stderr
    shown = project.run("status", instance_id, "--json").json
    assert shown["error"]["where"] == f"{project.root / 'workflows.py'}:{flaky_line}"
    ran = project.run("--config", "proj/romancy.toml", "run", "boom", "x", cwd=project.root.parent)
    assert ran.code == 1
    assert ran.error_line.endswith(f"ValueError: x (at proj/workflows.py:{BOOM_LINE})")


def test_status_table_filters_and_empty_database(tmp_path, project: Project) -> None:
    empty = project.run("status", "--json")
    assert empty.code == 0 and empty.json == []
    assert not project.db.exists()  # looking does not create the database
    project.run("start", "napper")
    project.run("start", "add", "1")
    table = project.run("status")
    assert table.stderr == ""
    assert "INSTANCE" in table.stdout and "waiting_for_timer" in table.stdout and "timer " in table.stdout
    only = project.run("status", "--status", "completed", "--json").json
    assert [i["workflow"] for i in only] == ["add"]
    by_workflow = project.run("status", "--workflow", "napper", "--json").json
    assert [i["workflow"] for i in by_workflow] == ["napper"]
    assert len(project.run("status", "--limit", "1", "--json").json) == 1


def test_tables_in_a_pipe_are_plain_columns_on_stdout(project: Project) -> None:
    napping = project.run("start", "napper").stdout.strip()
    done = project.run("start", "add", "1").stdout.strip()
    command = f"{romancy_executable()} status | grep waiting"
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=project.root, capture_output=True,
                           text=True, env={k: v for k, v in cli_env().items() if k != "NO_COLOR"}, timeout=30)
    assert piped.returncode == 0, piped.stderr
    [line] = piped.stdout.splitlines()
    assert line.split()[:3] == [napping, "napper", "waiting_for_timer"]
    assert "\x1b[" not in piped.stdout and line == line.rstrip()
    assert done not in piped.stdout
    workflows = project.run("workflows")
    assert workflows.stdout.splitlines()[0].split() == ["WORKFLOW", "PARAMETERS", "STARTS", "ON", "SOURCE"]


def test_jsonl_lists_one_object_per_line(project: Project) -> None:
    ids = [project.run("start", "add", str(n)).stdout.strip() for n in (1, 2)]
    lines = project.run("status", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["instance_id"] for line in lines] == ids[::-1]
    assert set(json.loads(lines[0])) == INSTANCE_KEYS
    names = [json.loads(line)["name"] for line in project.run("workflows", "--jsonl").stdout.splitlines()]
    assert names == ["add", "boom", "napper", "norm", "order"]


def test_events_table_is_on_stdout_and_plain_in_a_pipe(project: Project) -> None:
    for event_type, event_id in (("t.kept", "k-1"), ("t.other", "o-1")):
        assert project.run("send-event", event_type, "--id", event_id, "--no-resume").code == 0
    command = f"{romancy_executable()} events | grep t.kept"
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=project.root, capture_output=True,
                           text=True, env={k: v for k, v in cli_env().items() if k != "NO_COLOR"}, timeout=30)
    assert piped.returncode == 0, piped.stderr
    [line] = piped.stdout.splitlines()
    assert line.split()[-4:] == ["t.kept", "romancy-cli", "k-1", "none"]
    assert "\x1b[" not in piped.stdout and line == line.rstrip()
    table = project.run("events")
    assert table.stderr == "" and table.stdout.splitlines()[0].split() == [
        "RECEIVED", "TYPE", "SOURCE", "ID", "SUBJECT", "CONSUMED", "BY"]


def test_events_jsonl_prints_one_event_per_line(project: Project) -> None:
    for event_id in ("e-1", "e-2"):
        project.run("send-event", "t.listed", "--id", event_id, "--no-resume")
    listed = project.run("events", "--jsonl")
    assert listed.code == 0 and listed.stderr == ""
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["id"], e["type"], e["consumed_by"]) for e in events] == [("e-2", "t.listed", []), ("e-1", "t.listed", [])]
    assert [json.loads(line)["id"] for line in project.run("events", "--jsonl", "--limit", "1").stdout.splitlines()] == ["e-2"]
    assert project.run("events", "--jsonl", "--type", "t.none").stdout == ""


def test_verbose_shows_romancy_debug_lines_not_sql(project: Project) -> None:
    once = project.run("start", "add", "1", "-v")
    assert "debug: romancy.engine: committed add-" in once.stderr
    assert "SELECT" not in once.stderr
    twice = project.run("start", "add", "1", "-vv")
    assert "debug: peewee: " in twice.stderr


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
    assert set(one) == INSTANCE_KEYS | {"history", "near_misses", "children"}
    assert one["input"] == {"args": ["ORD-9"], "kwargs": {}}
    assert one["output"] is None and one["error"] is None and one["status"] == "waiting_for_event"
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
    assert set(sent) == {"event_id", "duplicate", "delivered", "started", "resumed", "near_misses"}
    assert sent["resumed"] == [{"instance_id": "pinned", "status": "completed"}]
    ticked = project.run("tick", "--json").json
    assert set(ticked) == {"fired", "resumed", "next_due_at"}
    failed = project.run("start", "boom", "x", "--json")
    assert failed.json["error"] == {"type": "ValueError", "message": "x", "where": f"{project.root / 'workflows.py'}:{BOOM_LINE}"}
