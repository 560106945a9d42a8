"""Ids you can type: every command and route that takes an instance id takes a unique prefix of
it; an ambiguous one lists the candidates (exit 2, HTTP 400); a narrow terminal's table shows the
shortest unique form. Through the installed `romancy` executable and a real `romancy serve`."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from cli_helpers import Project, make_project
from test_serve_cli import start_server


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def start(project: Project, *args: str) -> str:
    result = project.run("start", *args)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def test_commands_take_a_unique_prefix(project: Project) -> None:
    first = start(project, "order", "ORD-1", "--id", "order-AAAA111")
    start(project, "order", "ORD-2", "--id", "order-BBBB222")
    shown = project.run("status", "order-AAAA")
    assert shown.code == 0 and shown.stdout.startswith(f"{first}  waiting_for_event")
    assert project.run("status", "order-A", "--json").json["instance_id"] == first  # --json: the whole id
    assert project.run("replay", "--check", "--instance", "order-A").code == 0
    sent = project.run("send-event", "payment.completed", "--data", '{"order_id": "ORD-1", "amount": 5}',
                       "--instance", "order-AA")
    assert sent.code == 0 and f"resumed 1 instance: {first} → completed" in sent.stderr
    second = project.run("cancel", "order-B")
    assert second.code == 0 and second.stderr.strip() == "cancelled order-BBBB222 (was waiting_for_event)"
    assert project.status_of("order-BBBB222") == "cancelled"


def test_retry_and_wait_take_a_prefix(project: Project) -> None:
    failed = project.run("start", "boom", "bad", "--id", "boom-CCCC333").stdout.strip()
    assert project.status_of(failed) == "failed"
    retried = project.run("retry", "boom-C")
    assert retried.code == 1 and retried.stderr.startswith("  retried boom-CCCC333 → failed")
    waited = project.run("status", "boom-CC", "--wait", "failed", "--timeout", "5s")
    assert waited.code == 0 and waited.stdout.startswith("boom-CCCC333  failed")


def test_an_ambiguous_prefix_lists_the_candidates_and_changes_nothing(project: Project) -> None:
    start(project, "order", "ORD-1", "--id", "order-AAAA111")
    start(project, "order", "ORD-2", "--id", "order-AAAA222")
    before = project.counts()
    for args in (("status", "order-AAAA"), ("cancel", "order-AAAA"),
                 ("send-event", "payment.completed", "--instance", "order-AAAA")):
        result = project.run(*args)
        assert result.code == 2, args
        assert result.error_line == ("error: instance id 'order-AAAA' is ambiguous: it starts order-AAAA111, "
                                     "order-AAAA222; give more of the id"), args
    assert project.counts() == before
    assert {project.status_of(i) for i in ("order-AAAA111", "order-AAAA222")} == {"waiting_for_event"}


def test_an_unknown_prefix_is_exit_3(project: Project) -> None:
    start(project, "order", "ORD-1", "--id", "order-AAAA111")
    result = project.run("status", "order-AB")
    assert result.code == 3 and result.error_line == "error: no instance 'order-AB'; `romancy status` lists instances"
    like = project.run("status", "order_AAAA")  # `_` is no wildcard
    assert like.code == 3


def test_a_narrow_terminal_shows_the_shortest_ids_that_commands_take(project: Project) -> None:
    ids = [start(project, "napper") for _ in range(3)]
    narrow = project.run_in_terminal(100, "status")
    rows = [line.split()[0] for line in narrow.splitlines()[1:] if line.strip()]
    assert len(rows) == 3 and all(len(row) < len(ids[0]) for row in rows), narrow
    assert all(len(line) <= 100 for line in narrow.splitlines())
    # Each short id is typable: `status` takes it, and it names its own instance.
    assert sorted(project.run("status", row, "--json").json["instance_id"] for row in rows) == sorted(ids)
    wide = project.run_in_terminal(200, "status")
    assert [line.split()[0] for line in wide.splitlines()[1:] if line.strip()] == ids[::-1]
    piped = project.run("status")  # a pipe: whole ids, for grep and awk
    assert [line.split()[0] for line in piped.stdout.splitlines()[1:]] == ids[::-1]


def test_http_routes_take_a_unique_prefix(project: Project) -> None:
    first = start(project, "order", "ORD-1", "--id", "order-AAAA111")
    start(project, "order", "ORD-2", "--id", "order-AAAA222")
    served = start_server(project, "--no-reload")
    try:
        one = requests.get(served.url + "instances/order-AAAA1", timeout=10)
        assert one.status_code == 200 and one.json()["instance_id"] == first
        ambiguous = requests.get(served.url + "instances/order-AAAA", timeout=10)
        assert ambiguous.status_code == 400
        assert ambiguous.json()["error"] == ("instance id 'order-AAAA' is ambiguous: it starts order-AAAA111, "
                                             "order-AAAA222; give more of the id")
        assert requests.post(served.url + "cancel/order-AAAA", timeout=10).status_code == 400
        cancelled = requests.post(served.url + "cancel/order-AAAA2", timeout=10)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert requests.get(served.url + "instances/order-Z", timeout=10).status_code == 404
        page = requests.get(served.url + "ui/instances/order-AAAA1", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and first in page.text
    finally:
        served.stop()
    assert project.status_of("order-AAAA222") == "cancelled" and project.status_of(first) == "waiting_for_event"
