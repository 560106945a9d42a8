"""`events`, near misses in `status` and `send-event`, `retry` and `prune` through the installed
`romancy` executable on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import Project, make_project

FLAKY = '''

import os


@activity
def flaky(ctx) -> str:
    if not os.path.exists("fixed"):
        raise RuntimeError("not fixed yet")
    return "ok"


@workflow
def fragile(ctx) -> str:
    return flaky.execute(ctx)


from romancy_cli import RetryPolicy


@activity(retry=RetryPolicy(max_attempts=3, initial_interval="1m"))
def shaky(ctx) -> str:
    if ctx.attempt < 3:
        raise ConnectionError(f"<down> on attempt {ctx.attempt}")
    return "up"


@workflow
def steady(ctx) -> str:
    return shaky.execute(ctx)
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", (proj.root / "workflows.py").read_text() + FLAKY)
    return proj


def start_order(project: Project, order_id: str) -> str:
    result = project.run("start", "order", order_id)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def test_events_lists_each_event_with_its_consumer(project: Project) -> None:
    iid = start_order(project, "ORD-1")
    assert project.run("send-event", "payment.completed", "--id", "e1", "--subject", "s1",
                       "--data", '{"order_id": "ORD-9"}').code == 0
    assert project.run("send-event", "payment.completed", "--id", "e2", "--data", '{"order_id": "ORD-1", "amount": 5}').code == 0
    listed = project.run("events", "--json")
    assert listed.code == 0, listed.stderr
    assert [(e["id"], e["subject"], e["consumed_by"]) for e in listed.json] == [("e2", None, [iid]), ("e1", "s1", [])]
    assert set(listed.json[0]) == {"seq", "received_at", "type", "source", "id", "subject", "consumed_by"}
    assert [e["id"] for e in project.run("events", "--unconsumed", "--json").json] == ["e1"]
    assert [e["id"] for e in project.run("events", "--limit", "1", "--json").json] == ["e2"]
    assert project.run("events", "--type", "other", "--json").json == []
    assert [e["id"] for e in project.run("events", "--since", "1h", "--json").json] == ["e2", "e1"]
    table = project.run("events")
    assert "e1" in table.stdout and "none" in table.stdout and iid in table.stdout


def test_events_bad_since_is_one_line_exit_2(project: Project) -> None:
    result = project.run("events", "--since", "soon")
    assert result.code == 2
    assert result.error_line.startswith("error: invalid --since 'soon'")


def test_status_shows_near_misses_with_the_first_reason(project: Project) -> None:
    iid = start_order(project, "ORD-1")
    other = start_order(project, "ORD-2")
    project.run("send-event", "payment.completed", "--id", "wrong", "--data", '{"order_id": "ORD-9"}')
    project.run("send-event", "payment.completed", "--id", "aimed", "--instance", other, "--data", '{"order_id": "ORD-1"}')
    project.run("send-event", "payment.completed", "--id", "bare", "--data", '{"amount": 1}')
    view = project.run("status", iid, "--json").json
    assert [(m["id"], m["reason"]) for m in view["near_misses"]] == [
        ("bare", 'data.order_id is missing, wanted "ORD-1"'),
        ("aimed", "targeted at another instance"),
        ("wrong", 'data.order_id is "ORD-9", wanted "ORD-1"'),
    ]
    human = project.run("status", iid)
    assert 'wrong: data.order_id is "ORD-9", wanted "ORD-1"' in human.stderr
    assert project.run("status", other, "--json").json["near_misses"][0]["id"] == "bare"


def test_send_event_says_why_nothing_resumed(project: Project) -> None:
    iid = start_order(project, "ORD-1")
    result = project.run("send-event", "payment.completed", "--data", '{"order_id": "ORD-9"}')
    assert result.code == 0, result.stderr
    assert ('1 instance waits for payment.completed; none matched: data.order_id is "ORD-9", wanted "ORD-1"'
            in result.stderr)
    as_json = project.run("send-event", "payment.completed", "--json", "--data", '{"order_id": "ORD-8"}').json
    assert as_json["near_misses"] == [{"instance_id": iid, "reason": 'data.order_id is "ORD-8", wanted "ORD-1"'}]
    targeted = project.run("send-event", "payment.completed", "--instance", iid, "--data", '{"order_id": "ORD-7"}')
    assert targeted.code == 0
    assert 'none matched: data.order_id is "ORD-7", wanted "ORD-1"' in targeted.stderr
    assert "no instance was waiting" not in targeted.stderr
    assert project.status_of(iid) == "waiting_for_event"


def test_retry_reruns_the_failed_step_and_keeps_the_failed_attempt(project: Project) -> None:
    started = project.run("start", "fragile")
    iid = started.stdout.strip()
    assert project.status_of(iid) == "failed"
    again = project.run("retry", iid)
    assert again.code == 1 and "failed again" in again.error_line
    project.write("fixed", "")
    retried = project.run("retry", iid, "--json")
    assert retried.code == 0, retried.stderr
    view = retried.json
    assert (view["status"], view["output"], view["error"]) == ("completed", "ok", None)
    assert [(s["step"], s["kind"]) for s in view["history"]] == [(0, "retried"), (0, "retried"), (0, "activity")]
    assert view["history"][0]["result"]["error"]["message"] == "not fixed yet"
    assert view["history"][2]["result"] == {"value": "ok"}
    rows = project.rows("SELECT seq, kind FROM romancy_steps WHERE instance_id = ? ORDER BY seq", iid)
    assert rows == [(-2, "retried"), (-1, "retried"), (0, "activity")]


def test_status_lists_each_failed_attempt_under_its_step_and_replay_check_finds_nothing(project: Project) -> None:
    iid = project.run("start", "steady").stdout.strip()
    for hours in ("1h", "2h"):  # --advance counts from now; each attempt waits on from its own time
        assert project.run("tick", "--advance", hours).code == 0
    assert project.status_of(iid) == "completed"
    human = project.run("status", iid).stdout.splitlines()
    at = next(n for n, line in enumerate(human) if "shaky" in line and "✓" in line)
    assert "attempt 1 failed: ConnectionError: <down> on attempt 1 (at workflows.py:" in human[at + 1]
    assert "attempt 2 failed: ConnectionError: <down> on attempt 2" in human[at + 2]
    history = project.run("status", iid, "--json").json["history"]
    assert [(s["step"], s["kind"], s["name"]) for s in history] == [
        (0, "attempt", "shaky"), (0, "attempt", "shaky"), (0, "activity", "shaky")]
    assert [s["result"]["error"]["message"] for s in history[:2]] == ["<down> on attempt 1", "<down> on attempt 2"]
    assert set(history[0]["result"]) == {"step", "attempt", "error", "failed_at"}
    check = project.run("replay", "--check", "--include-ended", "--json")
    assert (check.code, check.json) == (0, {"checked": 1, "would_park": []})


def test_retry_refuses_what_is_not_failed(project: Project) -> None:
    iid = start_order(project, "ORD-1")
    before = project.rows("SELECT * FROM romancy_instances")
    result = project.run("retry", iid)
    assert result.code == 1
    assert result.error_line == (f"error: instance {iid} is waiting_for_event, not failed: only a failed instance "
                                 "can be retried (`romancy status --status failed` lists them)")
    assert project.rows("SELECT * FROM romancy_instances") == before
    missing = project.run("retry", "nope")
    assert missing.code == 3 and "no instance 'nope'" in missing.error_line


def test_prune_removes_ended_instances_and_events_no_live_instance_may_take(project: Project) -> None:
    done = project.run("start", "add", "1").stdout.strip()
    project.run("send-event", "stray.event", "--id", "stray")
    waiting = start_order(project, "ORD-1")
    project.run("send-event", "payment.completed", "--id", "late", "--data", '{"order_id": "ORD-9"}')
    dry = project.run("prune", "--completed-before", "0s", "--events-before", "0s", "--dry-run", "--json")
    assert dry.json == {"instances": 1, "steps": 1, "events": 1, "dry_run": True}
    assert project.counts() == {"romancy_instances": 2, "romancy_steps": 2, "romancy_events": 2}
    pruned = project.run("prune", "--completed-before", "0s", "--events-before", "0s")
    assert pruned.code == 0, pruned.stderr
    assert "removed 1 instance(s) with 1 step(s), 1 event(s)" in pruned.stderr
    assert project.rows("SELECT instance_id FROM romancy_instances") == [(waiting,)]
    assert project.rows("SELECT event_id FROM romancy_events") == [("late",)]  # ORD-1 may still take it
    assert done not in project.run("status", "--json").stdout
    kept = project.run("prune", "--completed-before", "1d", "--events-before", "1d", "--json")
    assert kept.json == {"instances": 0, "steps": 0, "events": 0, "dry_run": False}


@pytest.mark.parametrize("args, message", [
    ([], "error: nothing to prune: give --completed-before D and/or --events-before D (e.g. 30d, 0s)"),
    (["--events-before", "-1s"], "error: invalid --events-before '-1s'"),
])
def test_prune_bad_input_is_one_line_exit_2(project: Project, args: list[str], message: str) -> None:
    project.run("start", "add", "1")
    before = project.counts()
    result = project.run("prune", *args)
    assert result.code == 2 and result.error_line.startswith(message)
    assert project.counts() == before


def test_unknown_retention_key_is_an_error_naming_it(project: Project) -> None:
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                                  '[retention]\ncompleted_afer = "30d"\n')
    result = project.run("status")
    assert result.code == 2
    assert "unknown key 'retention.completed_afer'" in result.error_line
    assert "did you mean 'retention.completed_after'?" in result.error_line
    project.write("romancy.toml", 'database = "romancy.db"\n[retention]\nevents_after = "soon"\n')
    bad = project.run("status")
    assert bad.code == 2 and "`retention.events_after`" in bad.error_line


def test_prune_leaves_a_concurrent_writer_unblocked(project: Project) -> None:
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.prune import fill

    fill(str(project.db), 30_000, time.time() - 3600)
    writer = project.popen("--json", "send-event", "unrelated.event", "--id", "during")
    sender = [project.popen("send-event", "unrelated.event", "--id", f"w{n}") for n in range(4)]
    pruned = project.run("prune", "--completed-before", "0s", "--json")
    outcomes = [proc.communicate(timeout=60) + (proc.returncode,) for proc in [writer, *sender]]
    assert pruned.code == 0, pruned.stderr
    assert pruned.json["instances"] == 30_000
    for stdout, stderr, code in outcomes:
        assert code == 0 and "locked" not in stderr, stderr
    assert project.rows("SELECT COUNT(*) FROM romancy_events WHERE type = 'unrelated.event'") == [(5,)]
