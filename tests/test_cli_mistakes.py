"""Mistakes a newcomer makes in the first hour, each answered with what to do: through the
installed `romancy` executable, and a real `romancy serve`, on a real SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from cli_helpers import Project, make_project
from test_serve_cli import start_server

MISTAKES = '''

@activity
def charge(ctx, amount: int) -> int:
    return amount


@workflow
def called_directly(ctx, amount: int = 1) -> int:
    return charge(ctx, amount)


@workflow
def without_context(ctx, amount: int = 1) -> int:
    return charge.execute(amount)


@workflow(start_on="order.placed")
def cart(ctx, cart_id: str) -> dict:
    return wait_event(ctx, ["cart.confirmed", "cart.dropped"], match={"cart_id": cart_id}).data
'''

CALL_HINT = "call charge.execute(ctx, ...)"
OVERDUE = ("! its timer is overdue and nothing is firing it: run `romancy tick` "
           "(or keep `romancy serve` or `romancy tick --loop` running)")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", (proj.root / "workflows.py").read_text() + MISTAKES)
    return proj


def test_an_activity_called_like_a_function_fails_naming_execute(project: Project) -> None:
    result = project.run("run", "called_directly")
    assert result.code == 1
    assert ("WorkflowDefinitionError: activity 'charge' was called like a function inside a workflow, which "
            f"neither records nor retries it: {CALL_HINT} (at workflows.py:") in result.error_line
    assert project.rows("SELECT COUNT(*) FROM romancy_steps")[0][0] == 0  # nothing ran unrecorded


def test_execute_without_the_context_fails_naming_execute(project: Project) -> None:
    result = project.run("run", "without_context")
    assert result.code == 1
    assert (f"WorkflowDefinitionError: charge.execute() takes the workflow's context first, got 1: "
            f"{CALL_HINT}") in result.error_line
    assert "AttributeError" not in result.stderr


def test_an_activity_stays_callable_as_a_function_outside_workflows(project: Project) -> None:
    # What unit tests of an activity do: any context but a workflow's.
    from romancy_cli import Registry, activity

    @activity(registry=Registry())
    def charge(ctx, amount: int) -> int:
        return amount * 2

    assert charge(None, 21) == 42


def test_send_event_with_a_misspelt_type_suggests_the_awaited_one(project: Project) -> None:
    project.run("start", "cart", "C1")
    before = project.counts()
    result = project.run("send-event", "cart.confirm", "--data", '{"cart_id": "C1"}')
    assert result.code == 0
    assert result.stderr.endswith("(cart.confirm); no instance was waiting for it; did you mean 'cart.confirmed'?\n")
    assert project.counts()["romancy_events"] == before["romancy_events"] + 1
    second = project.run("send-event", "cart.droped")  # the second type of a wait on several
    assert second.stderr.endswith("did you mean 'cart.dropped'?\n")


def test_send_event_with_a_misspelt_trigger_suggests_the_start_on_type(project: Project) -> None:
    result = project.run("send-event", "order.place", "--data", '{"cart_id": "C2"}')
    assert result.stderr.endswith("no instance was waiting for it; did you mean 'order.placed'?\n")
    other = project.run("send-event", "invoice.sent")
    assert other.stderr.endswith("no instance was waiting for it "
                                 "(instances wait for, or workflows start on: order.placed)\n")


def test_status_of_an_overdue_timer_says_nothing_fires_it(project: Project) -> None:
    sleeper = project.run("start", "napper", "0.001").stdout.strip()
    waiter = project.run("start", "order", "ORD-1").stdout.strip()
    shown = project.run("status", sleeper)
    assert shown.code == 0 and OVERDUE in shown.stdout
    assert re.search(r"⏸ sleeping until \S+ \((just now|\S+ ago)\)", shown.stdout), shown.stdout
    assert OVERDUE not in project.run("status", waiter).stdout  # its timeout is an hour away
    project.run("tick")
    assert OVERDUE not in project.run("status", sleeper).stdout  # fired: completed


def test_status_wait_with_an_unknown_status_names_the_statuses(project: Project) -> None:
    iid = project.run("start", "order", "ORD-2").stdout.strip()
    result = project.run("status", iid, "--wait", "done")
    assert result.code == 2
    assert result.error_line == (
        "error: invalid --wait 'done': --wait takes one of cancelled, compensating, completed, continued_as_new, "
        "failed, parked, queued, running, terminal, waiting_for_event, waiting_for_timer (or nothing: terminal)")
    close = project.run("status", iid, "--wait", "complete")
    assert close.code == 2 and "did you mean 'completed'?" in close.error_line


def test_get_root_without_accept_says_what_the_endpoint_is(project: Project) -> None:
    served = start_server(project, "--no-reload", "--token", "s3cret")
    try:
        answer = requests.get(served.url, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        assert body["service"] == "romancy serve"
        assert body["page"] == "open this URL in a browser (Accept: text/html) for the web page"
        assert set(body["routes"]) >= {"POST /", "GET /instances", "GET /instances/{id}", "GET /events",
                                       "POST /cancel/{id}", "POST /retry/{id}", "GET /health/ready"}
        page = requests.get(served.url, headers={"Accept": "text/html"}, timeout=10)
        assert page.headers["Content-Type"].startswith("text/html")
        put = requests.put(served.url, timeout=10)
        assert put.status_code == 405 and put.headers["Allow"] == "POST, GET"
    finally:
        served.stop()


def test_the_page_shows_an_import_error_on_every_tab_until_fixed(project: Project) -> None:
    served = start_server(project, "--reload")
    try:
        broken = (project.root / "workflows.py").read_text().replace("def boom(ctx, message: str) -> None:",
                                                                      "def boom(ctx, message: str) -> None")
        line = broken.splitlines().index("def boom(ctx, message: str) -> None") + 1
        project.write("workflows.py", broken)
        where = f"{project.root / 'workflows.py'}:{line}"
        assert served.until(lambda: requests.get(served.url + "health/ready", timeout=2).status_code == 503)
        for tab in ("", "ui/events", "ui/workflows"):
            html = requests.get(served.url + tab, headers={"Accept": "text/html"}, timeout=10).text
            assert "The workflow code does not import</strong>: cannot import workflows from " \
                   f"{where}: SyntaxError: expected &#39;:&#39;." in html, tab
        assert "No workflows registered" not in requests.get(
            served.url + "ui/workflows", headers={"Accept": "text/html"}, timeout=10).text

        project.write("workflows.py", broken.replace("-> None\n", "-> None:\n"))
        assert served.until(lambda: requests.get(served.url + "health/ready", timeout=2).status_code == 200)
        html = requests.get(served.url + "ui/workflows", headers={"Accept": "text/html"}, timeout=10).text
        assert "does not import" not in html and 'id="wf-boom"' in html
    finally:
        served.stop()
