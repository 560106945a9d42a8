"""Hooks (`App(hooks=[...])`, `[telemetry] hooks`): called once per real occurrence, never for
what a replay re-does, across resumes, retries and a process killed mid-activity; a hook that
raises is logged and changes nothing."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli_helpers import Project, make_project
from romancy_cli import App, ManualClock, Registry, RetryPolicy, activity, send_event, sleep, wait_event, workflow
from romancy_cli.observe import HOOK_METHODS

registry = Registry()
START = 1_700_000_000.0


class Recorder:
    """Every call of every hook method, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for name in HOOK_METHODS:
            setattr(self, name, lambda _name=name, **fields: self.calls.append((_name, fields)))

    def of(self, name: str) -> list[dict[str, Any]]:
        return [fields for called, fields in self.calls if called == name]

    def counts(self) -> Counter:
        return Counter(name for name, _ in self.calls if name != "on_commit")


class Raising:
    """A hook whose every method raises."""

    def __init__(self) -> None:
        for name in HOOK_METHODS:
            setattr(self, name, self._boom)

    @staticmethod
    def _boom(**fields: Any) -> None:
        raise RuntimeError("hook bug")


@activity("reserve", registry=registry)
def reserve(ctx: Any, order_id: str) -> str:
    return f"R-{order_id}"


@activity("flaky", retry=RetryPolicy(max_attempts=3, initial_interval="10s", backoff=1.0), registry=registry)
def flaky(ctx: Any, succeed_on: int) -> int:
    if ctx.attempt < succeed_on:
        raise ConnectionError(f"down on attempt {ctx.attempt}")
    return ctx.attempt


@workflow("order", registry=registry)
def order(ctx: Any, order_id: str) -> dict:
    reserve.execute(ctx, order_id)
    event = wait_event(ctx, "paid", match={"order_id": order_id})
    sleep(ctx, "1h")
    reserve.execute(ctx, order_id + "-2")
    return {"amount": event.data["amount"]}


@workflow("retrying", registry=registry)
def retrying(ctx: Any, succeed_on: int) -> int:
    return flaky.execute(ctx, succeed_on)


@workflow("greeter", start_on="hello", registry=registry)
def greeter(ctx: Any, name: str) -> str:
    return f"hi {name}"


@workflow("announcer", registry=registry)
def announcer(ctx: Any) -> str:
    send_event(ctx, "hello", {"name": "ann"})
    return "sent"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(tmp_path: Path, recorder: Recorder) -> Iterator[App]:
    with App(database=str(tmp_path / "romancy.db"), worker_id="w", clock=ManualClock(START), registry=registry,
             hooks=[recorder]) as opened:
        yield opened


def test_each_occurrence_is_told_once_across_resumes(app: App, recorder: Recorder) -> None:
    iid = order.start(app, "A")
    app.send_event("paid", {"order_id": "A", "amount": 5})
    app.tick(now=START + 3600 + 7)  # the sleep fires 7 s late
    assert app.get(iid).status == "completed"
    # Three runs replayed the first activity and the wait: each is told once.
    assert recorder.counts() == Counter({"on_workflow_start": 1, "on_activity_start": 2, "on_activity_end": 2,
                                         "on_event_received": 1, "on_timer_fired": 1, "on_workflow_end": 1})
    assert recorder.of("on_workflow_start") == [{"instance_id": iid, "workflow": "order"}]
    assert [(c["activity"], c["attempt"], c["error"]) for c in recorder.of("on_activity_end")] == [
        ("reserve", 1, None), ("reserve", 1, None)]
    assert all(c["duration"] >= 0 for c in recorder.of("on_activity_end"))
    assert recorder.of("on_event_received")[0]["outcome"] == "delivered"
    assert recorder.of("on_event_received")[0]["instances"] == (iid,)
    fired = recorder.of("on_timer_fired")[0]
    assert (fired["instance_id"], fired["kind"], fired["lateness"]) == (iid, "timer", 7.0)
    assert recorder.of("on_workflow_end") == [{"instance_id": iid, "workflow": "order", "status": "completed",
                                              "error": None}]
    assert recorder.of("on_commit") and all(c["duration"] >= 0 for c in recorder.of("on_commit"))


def test_each_retry_attempt_is_told_with_its_number_and_error(app: App, recorder: Recorder) -> None:
    iid = retrying.start(app, 3)
    app.tick(now=START + 10)
    app.tick(now=START + 20)
    assert app.get(iid).status == "completed"
    ends = recorder.of("on_activity_end")
    assert [(c["attempt"], c["error"]) for c in ends] == [
        (1, {"type": "ConnectionError", "message": "down on attempt 1"}),
        (2, {"type": "ConnectionError", "message": "down on attempt 2"}), (3, None)]
    assert [c["attempt"] for c in recorder.of("on_activity_start")] == [1, 2, 3]
    assert [c["kind"] for c in recorder.of("on_timer_fired")] == ["retry", "retry"]
    assert len(recorder.of("on_workflow_start")) == len(recorder.of("on_workflow_end")) == 1


def test_a_failed_workflow_ends_failed_with_its_error(app: App, recorder: Recorder) -> None:
    retrying.start(app, 9)
    app.tick(now=START + 10)
    app.tick(now=START + 20)
    (end,) = recorder.of("on_workflow_end")
    assert end["status"] == "failed" and end["error"]["type"] == "ActivityError"


def test_event_outcomes(app: App, recorder: Recorder) -> None:
    iid = order.start(app, "B")
    app.send_event("paid", {"order_id": "nobody"}, event_id="e1")
    app.send_event("paid", {"order_id": "nobody"}, event_id="e1")
    started = app.send_event("hello", {"name": "bo"}, event_id="e2")
    app.send_event("paid", {"order_id": "B"}, event_id="e3")
    received = recorder.of("on_event_received")
    assert [(c["id"], c["outcome"]) for c in received] == [
        ("e1", "unmatched"), ("e1", "duplicate"), ("e2", "started"), ("e3", "delivered")]
    assert received[2]["instances"] == started.started and received[3]["instances"] == (iid,)
    assert {c["workflow"] for c in recorder.of("on_workflow_start")} == {"order", "greeter"}


def test_an_instance_a_published_event_starts_is_told_once(app: App, recorder: Recorder) -> None:
    announcer.start(app)
    assert sorted(c["workflow"] for c in recorder.of("on_workflow_start")) == ["announcer", "greeter"]
    assert sorted(c["workflow"] for c in recorder.of("on_workflow_end")) == ["announcer", "greeter"]


def test_a_cancel_ends_the_instance_once(app: App, recorder: Recorder) -> None:
    iid = order.start(app, "C")
    app.cancel(iid)
    assert [(c["instance_id"], c["status"]) for c in recorder.of("on_workflow_end")] == [(iid, "cancelled")]


def test_a_raising_hook_is_logged_and_changes_nothing(tmp_path: Path, recorder: Recorder,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with App(database=str(tmp_path / "r.db"), clock=ManualClock(START), registry=registry,
             hooks=[Raising(), recorder]) as app:
        with caplog.at_level(logging.WARNING, logger="romancy.hooks"):
            iid = retrying.start(app, 2)
            app.tick(now=START + 10)
        assert app.get(iid).status == "completed" and app.get(iid).output == 2
    assert "hook Raising._boom raised; ignored" in caplog.text
    # The hook after the raising one is still told.
    assert recorder.counts()["on_workflow_end"] == 1


def test_an_object_without_hook_methods_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="defines none of on_workflow_start"):
        App(database=str(tmp_path / "x.db"), hooks=[object()])


# -- [telemetry] hooks, through the real `romancy` executable --------------------------------

HOOK_MODULE = '''
import json, os

class FileHook:
    """Appends one line per call to hooks.log beside this module."""

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.log")

    def _write(self, name, **fields):
        with open(self.path, "a") as out:
            out.write(json.dumps([name, fields.get("activity") or fields.get("status")]) + "\\n")

    def on_workflow_start(self, **f): self._write("start", **f)
    def on_workflow_end(self, **f): self._write("end", **f)
    def on_activity_start(self, **f): self._write("activity_start", **f)
    def on_activity_end(self, **f): self._write("activity_end", **f)
'''

SLOW_WORKFLOW = '''
import os, time
from romancy_cli import activity, workflow

MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "first-attempt")

@activity
def slow(ctx) -> str:
    if not os.path.exists(MARK):  # the first attempt hangs until it is killed
        open(MARK, "w").close()
        time.sleep(60)
    return "done"

@workflow
def slow_flow(ctx) -> str:
    return slow.execute(ctx)
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                               '[telemetry]\nhooks = ["filehook:FileHook"]\n')
    proj.write("filehook.py", HOOK_MODULE)
    return proj


def _logged(project: Project) -> list[list[Any]]:
    return [json.loads(line) for line in (project.root / "hooks.log").read_text().splitlines()]


def test_configured_hooks_are_told_once_across_a_sigkill(project: Project) -> None:
    project.write("workflows.py", SLOW_WORKFLOW)
    proc = project.popen("start", "slow_flow", "--id", "s1")
    mark = project.root / "first-attempt"
    while not mark.exists() or not project.db.exists() or not project.rows(
            "SELECT 1 FROM romancy_instances WHERE instance_id = 's1'"):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    result = project.run("tick")  # recovers the instance of the dead process: the activity runs again
    assert result.code == 0, result.stderr
    assert project.status_of("s1") == "completed"
    assert _logged(project) == [["start", None], ["activity_start", "slow"],  # the killed attempt
                                ["activity_start", "slow"], ["activity_end", "slow"], ["end", "completed"]]


def test_configured_hooks_see_a_cli_start_and_event(project: Project) -> None:
    assert project.run("start", "order", "o1", "--id", "i1").code == 0
    assert project.run("send-event", "payment.completed", "--data", '{"order_id":"o1","amount":3}').code == 0
    assert _logged(project) == [["start", None], ["activity_start", "double"], ["activity_end", "double"],
                                ["end", "completed"]]


@pytest.mark.parametrize("hooks, message", [
    ('"nomodule:Hook"', "hook 'nomodule:Hook': cannot import"),
    ('"filehook:Missing"', "hook 'filehook:Missing': module 'filehook' has no attribute 'Missing'"),
    ('"not a spec"', "`telemetry.hooks` must be a list of \"module:attribute\" names"),
])
def test_a_bad_hook_setting_is_one_line_and_exit_2(project: Project, hooks: str, message: str) -> None:
    project.write("romancy.toml", f'database = "romancy.db"\nworkflows = ["workflows.py"]\n'
                                  f'[telemetry]\nhooks = [{hooks}]\n')
    result = project.run("start", "add", "1")
    assert result.code == 2
    assert message in result.error_line
    assert project.counts().get("romancy_instances", 0) == 0
