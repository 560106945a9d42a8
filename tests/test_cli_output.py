"""Consistent output: every time in every JSON shape is an RFC 3339 string (step results
included), every history line of `status ID` is a sentence, and serve's log counts the
instances an event started. Through the installed `romancy` executable and a real `serve`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from cli_helpers import Project, make_project
from test_serve_cli import start_server

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

STEPS = '''

import os
from romancy_cli import RetryPolicy


@activity
def flaky(ctx) -> str:
    if not os.path.exists("fixed"):
        raise RuntimeError("not fixed yet")
    return "ok"


@activity(retry=RetryPolicy(max_attempts=2, initial_interval="1s"))
def shaky(ctx) -> str:
    if ctx.attempt < 2:
        raise ConnectionError("down")
    return "up"


@workflow
def every_step(ctx) -> str:
    ctx.now()
    ctx.uuid4()
    sleep(ctx, 0.001)
    try:
        wait_event(ctx, "never.sent", timeout="0.001s")
    except EventTimeout:
        pass
    shaky.execute(ctx)
    return flaky.execute(ctx)


@workflow(start_on="ping")
def pinged(ctx, n: int = 0) -> int:
    return n
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", (proj.root / "workflows.py").read_text() + STEPS)
    return proj


def times(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every value under a key that names a time (`*_at`, `at`), anywhere in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "at" or k.endswith("_at"):
                yield k, v
            yield from times(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from times(item, key)


def every_step(project: Project) -> str:
    iid = project.run("start", "every_step").stdout.strip()
    for _ in range(4):  # the sleep, the timeout, the retry of shaky: each fires on a tick
        project.run("tick", "--advance", "2s")
    assert project.status_of(iid) == "failed"
    project.write("fixed", "")
    assert project.run("retry", iid).code == 0
    return iid


def test_every_time_in_the_json_shapes_is_rfc3339(project: Project) -> None:
    iid = every_step(project)
    detail = project.run("status", iid, "--json").json
    kinds = [step["kind"] for step in detail["history"]]
    assert kinds == ["now", "uuid4", "timer", "event", "attempt", "activity", "retried", "activity"], kinds
    found = dict(times(detail))
    assert set(found) == {"created_at", "updated_at", "fired_at", "at", "failed_at", "retried_at"}
    assert all(RFC3339.match(v) for v in found.values()), found
    assert RFC3339.match(detail["history"][0]["result"])  # ctx.now()'s value
    served = start_server(project, "--no-reload")
    try:
        answer = requests.get(served.url + f"instances/{iid}", timeout=10).json()
        assert answer["history"] == detail["history"]
    finally:
        served.stop()


def test_every_history_line_is_a_sentence(project: Project) -> None:
    iid = every_step(project)
    lines = project.run("status", iid).stdout.splitlines()
    history = lines[lines.index("  history") + 1:]
    assert not [line for line in history if "{" in line], history  # no raw JSON
    text = "\n".join(history)
    assert re.search(r"^    0 · read the clock: \S+ \(.+\)$", text, re.M), text
    assert re.search(r"^    1 · generated uuid [0-9a-f-]{36}$", text, re.M), text
    assert re.search(r"^    2 ⏱ slept until \S+ \(.+\)$", text, re.M), text
    assert re.search(r"^    3 ⌛ never.sent timed out$", text, re.M), text
    assert re.search(r"^    5 ↻ flaky had failed: RuntimeError: not fixed yet \(at workflows.py:\d+\), "
                     r"retried \S+ \(.+\)$", text, re.M), text
    assert re.search(r"^    5 ✓ flaky  ok$", text, re.M), text


def test_serve_log_counts_the_instances_an_event_started(project: Project) -> None:
    waiting = project.run("start", "order", "ORD-1").stdout.strip()
    served = start_server(project, "--no-reload")
    try:
        ce = {"Content-Type": "application/cloudevents+json"}
        ping = {"specversion": "1.0", "type": "ping", "source": "s", "id": "p1", "data": {"n": 3}}
        assert requests.post(served.url, json=ping, headers=ce, timeout=10).status_code == 202
        paid = {"specversion": "1.0", "type": "payment.completed", "source": "s", "id": "p2",
                "data": {"order_id": "ORD-1", "amount": 1}}
        assert requests.post(served.url, json=paid, headers=ce, timeout=10).status_code == 202
        assert requests.post(served.url, json=paid, headers=ce, timeout=10).status_code == 202
        other = {"specversion": "1.0", "type": "nobody.cares", "source": "s", "id": "p3"}
        assert requests.post(served.url, json=other, headers=ce, timeout=10).status_code == 202
        assert served.until(lambda: served.logged("accepted nobody.cares"))
    finally:
        _, log = served.stop()
    started = project.rows("SELECT instance_id FROM romancy_instances WHERE workflow = 'pinged'")[0][0]
    assert f"accepted ping p1 from s → started 1 instance: {started}" in log
    assert "accepted payment.completed p2 from s → delivered to 1 instance\n" in log
    assert "accepted payment.completed p2 from s → duplicate: applied once already" in log
    assert "accepted nobody.cares p3 from s → no instance waited for it" in log
    assert f"resumed {waiting} → completed" in log
