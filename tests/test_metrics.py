"""GET /metrics of `romancy serve`: parsed with prometheus_client's own parser and checked against
the work done; per App (two servers in one process count apart); behind the token; and scraped
by a real Prometheus server (Debian's `prometheus`) whose query API then answers."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cli_helpers import Project, make_project
from multiworker_support import free_port
from serve_support import SIDE_EFFECTS, Running, run_server, wait_for
from test_docs import blocks
from test_serve_cli import start_server

PROMETHEUS = "/usr/bin/prometheus"  # Debian's package (.ci/run installs it)
OBSERVE = Path(__file__).resolve().parents[1] / "docs" / "howto" / "observe.md"


def samples(url: str, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics: (name, sorted labels) -> value."""
    answer = requests.get(url + "metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def structured(event_type: str, event_id: str, data: dict) -> dict:
    return {"specversion": "1.0", "type": event_type, "source": "test", "id": event_id, "data": data}


def post(running: Running, event: dict) -> None:
    answer = requests.post(running.url, json=event, headers={"Content-Type": "application/cloudevents+json"},
                           timeout=10)
    assert answer.status_code == 202, answer.text


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path / "romancy.db")


def test_metrics_count_the_work_done(running: Running) -> None:
    app = running.app
    ids = [app.start("serve_order", f"M{n}") for n in range(3)]
    app.start("serve_nap", 0.01)
    for n in range(2):
        post(running, structured("order.paid", f"paid-{n}", {"order_id": f"M{n}", "amount": n}))
    post(running, structured("order.paid", "paid-0", {"order_id": "M0"}))  # a duplicate
    post(running, structured("order.paid", "stray", {"order_id": "nobody"}))
    assert wait_for(lambda: app.count_instances().get("completed") == 3)
    got = samples(running.url)
    assert got[("romancy_instances", (("status", "completed"), ("workflow", "serve_order")))] == 2
    assert got[("romancy_instances", (("status", "completed"), ("workflow", "serve_nap")))] == 1
    assert got[("romancy_instances", (("status", "waiting_for_event"), ("workflow", "serve_order")))] == 1
    assert got[("romancy_events_received_total", (("outcome", "delivered"), ("type", "order.paid")))] == 2
    assert got[("romancy_events_received_total", (("outcome", "duplicate"), ("type", "order.paid")))] == 1
    assert got[("romancy_events_received_total", (("outcome", "unmatched"), ("type", "order.paid")))] == 1
    activity = ("romancy_activity_duration_seconds_count", (("activity", "serve_record_payment"),
                                                            ("outcome", "completed")))
    assert got[activity] == 2
    assert got[("romancy_timer_lateness_seconds_count", ())] == 1
    assert got[("romancy_workflows_started_total", (("workflow", "serve_order"),))] == 3
    assert got[("romancy_workflows_ended_total", (("status", "completed"), ("workflow", "serve_order")))] == 2
    assert got[("romancy_commit_duration_seconds_count", ())] >= 6  # 4 starts at rest, 2 completions at least
    assert got[("romancy_outbox_pending", ())] == 0 and got[("romancy_outbox_failed_total", ())] == 0
    assert len(ids) == 3 and SIDE_EFFECTS[-2:] == ["M0", "M1"]


def test_two_servers_in_one_process_count_their_own_work(tmp_path: Path) -> None:
    first = run_server(tmp_path / "a.db")
    second = run_server(tmp_path / "b.db")
    a, b = next(first), next(second)
    try:
        a.app.start("serve_order", "A1")
        post(a, structured("order.paid", "p1", {"order_id": "A1"}))
        assert wait_for(lambda: a.app.count_instances().get("completed") == 1)
        assert samples(a.url)[("romancy_events_received_total", (("outcome", "delivered"), ("type", "order.paid")))] == 1
        assert not [key for key in samples(b.url) if key[0] == "romancy_events_received_total"]
    finally:
        for server in (first, second):
            server.close()


def test_metrics_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    for running in run_server(tmp_path / "t.db", token="s3cret"):
        refused = requests.get(running.url + "metrics", timeout=10)
        assert refused.status_code == 401 and refused.json()["error_type"] == "Unauthorized"
        assert ("romancy_outbox_pending", ()) in samples(running.url, Authorization="Bearer s3cret")


# -- a real Prometheus server scraping a real `romancy serve` ----------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def _query(base: str, expression: str) -> list[dict[str, Any]]:
    answer = requests.get(base + "api/v1/query", params={"query": expression}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["result"]


def test_a_prometheus_server_scrapes_serve(project: Project, tmp_path: Path) -> None:
    served = start_server(project, "--no-reload", ROMANCY_SERVE_TOKEN="change-me")
    prometheus_port = free_port()
    config = tmp_path / "prometheus.yml"
    # The Observe how-to's scrape config, pointed at this server, scraping every second.
    (documented,) = [block for block in blocks(OBSERVE, "yaml") if "scrape_configs" in block]
    config.write_text(documented.replace("127.0.0.1:8001", served.url.split("/")[2]).replace("15s", "1s"))
    storage = tempfile.mkdtemp(dir=tmp_path)
    prometheus = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={storage}",
                                   f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{prometheus_port}/"
    try:
        assert project.run("start", "order", "P1", "--id", "p1").code == 0
        sent = project.run("send-event", "payment.completed", "--data", '{"order_id": "P1", "amount": 4}',
                           "--url", served.url, ROMANCY_SERVE_TOKEN="change-me")
        assert sent.code == 0, sent.stderr

        def answered() -> list[dict[str, Any]]:
            try:
                return _query(base, 'romancy_events_received_total{type="payment.completed"}')
            except requests.ConnectionError:
                return []

        deadline = time.monotonic() + 60  # a liveness bound: Prometheus starts, then scrapes every second
        while not answered() and time.monotonic() < deadline:
            assert prometheus.poll() is None, prometheus.communicate()[1]
            time.sleep(0.2)
        (series,) = answered()
        assert series["metric"]["outcome"] == "delivered" and series["metric"]["job"] == "romancy"
        assert float(series["value"][1]) == 1.0
        completed = _query(base, 'romancy_instances{workflow="order",status="completed"}')
        assert [float(s["value"][1]) for s in completed] == [1.0]
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        served.stop()
