"""`romancy run`: drives an instance in the foreground through timers and events from elsewhere."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from cli_helpers import Project, make_project

@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def _instance_id(proj: Project, workflow: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proj.db.exists():
            try:
                rows = proj.rows("SELECT instance_id FROM romancy_instances WHERE workflow = ?", workflow)
            except Exception:
                rows = []
            if rows:
                return rows[0][0]
        time.sleep(0.05)
    raise AssertionError(f"no {workflow} instance appeared")


def test_run_sleeps_through_a_timer(project: Project) -> None:
    started = time.monotonic()
    result = project.run("run", "napper", "1")
    assert result.code == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    assert json.loads(result.stdout) == "rested"
    assert "⏸ sleeping until" in result.stderr and "⏱ slept" in result.stderr
    [(status,)] = project.rows("SELECT status FROM romancy_instances")
    assert status == "completed"


def test_run_picks_up_an_event_sent_by_another_process(project: Project) -> None:
    runner = project.popen("run", "order", "ORD-5")
    try:
        instance_id = _instance_id(project, "order")
        project.wait_for_status(instance_id, "waiting_for_event")
        sent = project.run("send-event", "payment.completed", "--data", '{"order_id": "ORD-5", "amount": 7}')
        assert sent.code == 0, sent.stderr
        out, err = runner.communicate(timeout=15)
    finally:
        runner.kill()
    assert runner.returncode == 0, err
    assert json.loads(out) == {"order_id": "ORD-5", "status": "paid", "amount": 7}
    assert "✉ received payment.completed" in err


def test_run_resumes_an_instance_made_runnable_without_resume(project: Project) -> None:
    runner = project.popen("run", "order", "ORD-6", "--json")
    try:
        instance_id = _instance_id(project, "order")
        project.wait_for_status(instance_id, "waiting_for_event")
        sent = project.run("send-event", "payment.completed", "--no-resume", "--data",
                           '{"order_id": "ORD-6", "amount": 8}')
        assert sent.code == 0 and "not resumed" in sent.stderr
        out, err = runner.communicate(timeout=15)
    finally:
        runner.kill()
    assert runner.returncode == 0, err
    view = json.loads(out)
    assert view["status"] == "completed" and view["output"]["amount"] == 8
    assert [step["kind"] for step in view["history"]] == ["activity", "event"]


def test_run_of_a_failing_workflow_exits_1(project: Project) -> None:
    result = project.run("run", "boom", "bad luck")
    assert result.code == 1
    assert result.stdout == ""
    assert "ValueError: bad luck" in result.error_line


def test_ctrl_c_leaves_the_instance_durable(project: Project) -> None:
    runner = project.popen("run", "napper", "3600")
    try:
        instance_id = _instance_id(project, "napper")
        project.wait_for_status(instance_id, "waiting_for_timer")
        time.sleep(0.3)  # inside the wait loop
        runner.send_signal(signal.SIGINT)
        out, err = runner.communicate(timeout=15)
    finally:
        runner.kill()
    assert runner.returncode == 130, err
    assert out == ""
    assert f"interrupted: {instance_id} is durable (waiting_for_timer)" in err
    assert f"romancy run napper 3600 --id {instance_id}" in err
    assert project.status_of(instance_id) == "waiting_for_timer"
