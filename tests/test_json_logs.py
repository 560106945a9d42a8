"""`--log-format json` of `serve`, `tick --loop` and `run`: every line of stderr is one JSON object
with `ts` (RFC 3339), `level` and `msg`, and `instance_id`, `workflow`, `event_type` where they
apply; the text log stays the default."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from cli_helpers import Project, make_project
from test_docs import blocks
from test_serve_cli import start_server

OBSERVE = Path(__file__).resolve().parents[1] / "docs" / "howto" / "observe.md"

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")

TALKY = '''
from romancy_cli import activity, sleep, wait_event, workflow

@activity
def shout(ctx, word: str) -> str:
    print("shouting", word)  # user output: a log line too
    return word.upper()

@workflow
def talky(ctx, word: str) -> str:
    ctx.log("talking %s", word)
    loud = shout.execute(ctx, word)
    sleep(ctx, 0.2)
    return loud

@workflow
def hears(ctx) -> str:
    return wait_event(ctx, "said").data["word"]

@workflow
def broken(ctx) -> None:
    raise ValueError("nope")
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", TALKY)
    return proj


def lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line, parsed; each must be a JSON object with ts, level and msg."""
    parsed = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for line in parsed:
        assert RFC3339.match(line["ts"]), line
        assert line["level"] in ("debug", "info", "warning", "error") and isinstance(line["msg"], str), line
    return parsed


def test_run_logs_each_step_as_json(project: Project) -> None:
    result = project.run("run", "talky", "hey", "--id", "t1", "--log-format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == "HEY"  # the answer is unchanged on stdout
    logged = lines(result.stderr)
    started = next(line for line in logged if line["msg"] == "started t1")
    assert started["instance_id"] == "t1" and started["workflow"] == "talky"
    steps = [(line.get("kind"), line.get("step")) for line in logged if "kind" in line]
    assert steps == [("activity", "shout"), ("timer", "sleep")]
    assert all(line["instance_id"] == "t1" and line["workflow"] == "talky" for line in logged if "kind" in line)
    assert {"talking hey", "shouting hey"} <= {line["msg"] for line in logged}  # the workflow's own prints
    assert logged[-1]["status"] == "completed"


def test_run_of_a_failing_workflow_logs_the_error_as_json(project: Project) -> None:
    result = project.run("run", "broken", "--id", "b1", "--log-format", "json")
    assert result.code == 1
    last = lines(result.stderr)[-1]
    assert last["level"] == "error" and last["status"] == "failed" and "ValueError: nope" in last["msg"]


def test_a_bad_log_format_is_one_line_and_exit_2(project: Project) -> None:
    for args in (("run", "talky", "x"), ("tick", "--loop"), ("serve", "--no-reload")):
        result = project.run(*args, "--log-format", "yaml")
        assert result.code == 2
        assert "--log-format must be text or json, got 'yaml'" in result.error_line
    assert project.counts() == {}


def test_tick_json_logs_need_the_loop(project: Project) -> None:
    result = project.run("tick", "--log-format", "json")
    assert result.code == 2 and "--log-format json is for --loop" in result.error_line


def test_tick_loop_logs_json(project: Project) -> None:
    assert project.run("start", "talky", "yo", "--id", "s1").code == 0
    proc = project.popen("tick", "--loop", "--interval", "0.1s", "--log-format", "json")
    seen = ""
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            seen += line
            if '"fired": 1' in line or proc.poll() is not None:  # the summary, after its instances' lines
                break
    finally:
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    logged = lines(seen + rest)
    assert logged[0]["msg"].startswith("ticking every")
    resumed = [line for line in logged if line.get("instance_id") == "s1"]
    assert resumed and resumed[0]["status"] == "completed" and resumed[0]["msg"] == "resumed s1 → completed"
    assert any(line.get("fired") == 1 for line in logged)
    assert logged[-1]["msg"] == "stopped"


def test_serve_logs_json(project: Project) -> None:
    served = start_server(project, "--no-reload", "--log-format", "json")
    try:
        assert project.run("start", "hears", "--id", "h1").code == 0
        event = {"specversion": "1.0", "type": "said", "source": "test", "id": "e1", "data": {"word": "hi"}}
        answer = requests.post(served.url, json=event, headers={"Content-Type": "application/cloudevents+json"},
                               timeout=10)
        assert answer.status_code == 202
        assert served.until(lambda: project.status_of("h1") == "completed")
    finally:
        code, stderr = served.stop()
    assert code == 0
    logged = lines(stderr)
    accepted = next(line for line in logged if line["msg"].startswith("accepted"))
    assert accepted["event_type"] == "said" and accepted["event_id"] == "e1"
    resumed = next(line for line in logged if line.get("instance_id") == "h1")
    assert resumed["workflow"] == "hears" and resumed["status"] == "completed"
    # The Observe how-to shows these two lines: the same fields.
    (example,) = [block for block in blocks(OBSERVE, "console") if "--log-format json" in block]
    shown = [json.loads(line) for line in example.splitlines() if line.startswith("{")]
    assert [set(line) for line in shown] == [set(accepted), set(resumed)]


def test_the_text_log_stays_the_default(project: Project) -> None:
    result = project.run("run", "talky", "hey")
    assert result.code == 0
    assert "✓ shout" in result.stderr and not result.stderr.lstrip().startswith("{")
