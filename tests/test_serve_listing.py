"""GET /events, GET /instances with its cursor, POST /retry and [retention] over a real waitress
server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from romancy_cli import App, activity, workflow
from romancy_cli.config import RetentionSettings
from romancy_cli.serve import Server

from serve_support import REGISTRY, Running, run_server

BROKEN = {"on": True}


@activity("listing_charge", registry=REGISTRY)
def charge(ctx: Any) -> str:
    if BROKEN["on"]:
        raise RuntimeError("gateway down")
    return "charged"


@workflow("listing_pay", registry=REGISTRY)
def listing_pay(ctx: Any) -> str:
    return charge.execute(ctx)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path / "serve.db", token="t0k")


AUTH = {"Authorization": "Bearer t0k"}


def get(server: Running, path: str) -> requests.Response:
    return requests.get(server.url + path, headers=AUTH, timeout=10)


def test_events_route_lists_events_with_consumers_and_filters(server: Running) -> None:
    iid = server.app.start("serve_order", "ORD-1")
    server.app.send_event("order.paid", {"order_id": "ORD-9"}, event_id="miss")
    server.app.send_event("order.paid", {"order_id": "ORD-1"}, event_id="hit")
    listed = get(server, "events")
    assert listed.status_code == 200
    assert [(e["id"], e["consumed_by"]) for e in listed.json()] == [("hit", [iid]), ("miss", [])]
    assert [e["id"] for e in get(server, "events?unconsumed=true&type=order.paid&since=1h").json()] == ["miss"]
    assert [e["id"] for e in get(server, "events?limit=1").json()] == ["hit"]
    bad = get(server, "events?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]
    assert get(server, "events?colour=red").status_code == 400
    assert requests.get(server.url + "events", timeout=10).status_code == 401


def test_instances_route_pages_with_a_stable_cursor(server: Running) -> None:
    ids = [server.app.start("serve_order", f"ORD-{i}") for i in range(5)]
    server.app.start("serve_nap", 0)
    seen, after = [], None
    while True:
        page = get(server, "instances?status=waiting_for_event&limit=2" + (f"&after={after}" if after else "")).json()
        seen += [i["instance_id"] for i in page["instances"]]
        after = page["next"]
        if after is None:
            break
        server.app.start("serve_order", "ORD-new")  # newer ones do not shift the pages being read
    assert seen == list(reversed(ids))
    assert get(server, "instances?workflow=serve_nap").json()["instances"][0]["status"] == "completed"
    lone = base64.urlsafe_b64encode(json.dumps([1.0, "\ud800"]).encode()).decode()  # the store cannot take it
    for query in ("status=sleeping", "after=bm9wZQ", "limit=x", f"after={lone}"):
        answer = get(server, f"instances?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["error_type"] == "InvalidRequest"


def test_get_instance_has_near_misses(server: Running) -> None:
    iid = server.app.start("serve_order", "ORD-1")
    server.app.send_event("order.paid", {"order_id": "ORD-2"}, event_id="other")
    view = get(server, f"instances/{iid}").json()
    assert [(m["id"], m["reason"]) for m in view["near_misses"]] == [("other", 'data.order_id is "ORD-2", wanted "ORD-1"')]


def test_retry_route_reruns_a_failed_instance(server: Running) -> None:
    BROKEN["on"] = True
    iid = server.app.start("listing_pay")
    assert server.app.get(iid).status == "failed"
    assert requests.post(server.url + f"retry/{iid}", timeout=10).status_code == 401
    BROKEN["on"] = False
    answer = requests.post(server.url + f"retry/{iid}", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["output"]) == ("completed", "charged")
    assert [s["kind"] for s in body["history"]] == ["retried", "activity"]
    conflict = requests.post(server.url + f"retry/{iid}", headers=AUTH, timeout=10)
    assert conflict.status_code == 409 and "not failed" in conflict.json()["error"]
    assert requests.post(server.url + "retry/nope", headers=AUTH, timeout=10).status_code == 404


def test_serve_prunes_by_retention_from_its_timer_loop(tmp_path: Path) -> None:
    app = App(str(tmp_path / "serve.db"), registry=REGISTRY).initialize()
    ended = app.start("serve_nap", 0)
    server = Server(app, host="127.0.0.1", port=0, retention=RetentionSettings(completed_after=0.0))
    server.start()
    try:
        running = Running(server, tmp_path / "serve.db")
        assert running.wait_for(lambda: running.rows("instances") == 0)
        assert requests.get(running.url + f"instances/{ended}", timeout=10).status_code == 404
    finally:
        server.close()
        app.shutdown()
