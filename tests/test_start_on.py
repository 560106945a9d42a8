"""@workflow(start_on=...): an event starts one instance in the transaction that stores it, its
data bound to the parameters by name (SQLite and PostgreSQL, the CLI and HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import requests

from cli_helpers import make_project
from serve_support import run_server
from romancy_cli import App, ManualClock, ReceivedEvent, Registry, send_event, wait_event, workflow
from romancy_cli.errors import UsageError
from romancy_cli.ids import event_instance_id
from romancy_cli.records import COMPLETED, FAILED, WAITING_FOR_EVENT

registry = Registry()
NOW = 1_700_000_000.0


@workflow("so_shipping", registry=registry, start_on="t.so.paid")
def shipping(ctx, order_id: str, amount: float, express: bool = False) -> dict:
    picked = wait_event(ctx, "t.so.picked", match={"order_id": order_id})
    return {"order_id": order_id, "amount": amount, "express": express, "picked": picked.id}


@workflow("so_audit", registry=registry, start_on=["t.so.paid", "t.so.refunded"])
def audit(ctx, event: ReceivedEvent) -> str:
    return f"{event.type}/{event.source}/{event.id}/{event.data['order_id']}"


@workflow("so_payer", registry=registry)
def payer(ctx, order_id: str, amount) -> str:
    return send_event(ctx, "t.so.paid", {"order_id": order_id, "amount": amount}, source="payer")


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "romancy.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with App(database=url, worker_id="so", clock=ManualClock(NOW), registry=registry) as opened:
        yield opened


def _count(app: App, table: str) -> int:
    return app.store.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[attr-defined]


def test_an_event_starts_each_workflow_it_triggers_with_its_data_bound(app: App) -> None:
    result = app.send_event("t.so.paid", {"order_id": "ORD-1", "amount": "12.5", "extra": 1}, source="shop",
                            event_id="E1")
    ship, audit_id = event_instance_id("so_shipping", "shop", "E1"), event_instance_id("so_audit", "shop", "E1")
    assert set(result.started) == {ship, audit_id}
    assert result.resumed == {ship: WAITING_FOR_EVENT, audit_id: COMPLETED}
    assert app.get(ship).kwargs == {"order_id": "ORD-1", "amount": 12.5}  # converted by the hint
    assert app.get(audit_id).output == "t.so.paid/shop/E1/ORD-1"
    # The starting event is not also taken by the new instance's waits; later ones are.
    assert app.send_event("t.so.picked", {"order_id": "ORD-1"}, event_id="P").resumed == {ship: COMPLETED}
    assert app.get(ship).output == {"order_id": "ORD-1", "amount": 12.5, "express": False, "picked": "P"}


def test_a_redelivered_event_starts_nothing_new(app: App) -> None:
    app.send_event("t.so.refunded", {"order_id": "ORD-1"}, source="shop", event_id="E1")
    again = app.send_event("t.so.refunded", {"order_id": "ORD-1"}, source="shop", event_id="E1")
    assert again.duplicate and again.started == ()
    assert _count(app, "romancy_instances") == 1


def test_data_that_does_not_bind_names_the_field_and_stores_nothing(app: App) -> None:
    with pytest.raises(UsageError, match="no field 'amount'"):
        app.send_event("t.so.paid", {"order_id": "ORD-1"}, event_id="E2")
    with pytest.raises(UsageError, match="amount"):
        app.send_event("t.so.paid", {"order_id": "ORD-1", "amount": "lots"}, event_id="E3")
    assert (_count(app, "romancy_events"), _count(app, "romancy_instances")) == (0, 0)


def test_a_published_event_starts_the_workflow_in_the_publishing_process(app: App) -> None:
    publisher = app.start("so_payer", "ORD-9", 3)
    event_id = app.get(publisher).output
    ship = event_instance_id("so_shipping", "payer", event_id)
    assert app.get(ship).status == WAITING_FOR_EVENT
    assert app.get(ship).kwargs == {"order_id": "ORD-9", "amount": 3.0}
    assert app.get(event_instance_id("so_audit", "payer", event_id)).status == COMPLETED


def test_a_published_event_whose_data_does_not_bind_fails_the_publisher(app: App) -> None:
    publisher = app.start("so_payer", "ORD-9", "lots")
    assert app.get(publisher).status == FAILED
    assert "amount" in app.get(publisher).error["message"]
    assert (_count(app, "romancy_events"), _count(app, "romancy_instances")) == (0, 1)


CLI_WORKFLOWS = '''
from romancy_cli import wait_event, workflow


@workflow(start_on="order.paid")
def shipping(ctx, order_id: str, amount: float) -> dict:
    return {"order_id": order_id, "amount": amount}
'''


def test_cli_starts_on_event_lists_the_trigger_and_refuses_data_that_does_not_bind(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("workflows.py", CLI_WORKFLOWS)
    listed = project.run("workflows", "--json").json
    assert listed[0]["start_on"] == ["order.paid"]
    assert "order.paid" in project.run("workflows").stdout
    bad = project.run("send-event", "order.paid", "--data", '{"order_id": "A", "amount": "x"}')
    assert bad.code == 2
    assert bad.stderr.strip().count("\n") == 0 and "amount" in bad.error_line
    assert project.counts() == {"romancy_instances": 0, "romancy_steps": 0, "romancy_events": 0}
    sent = project.run("send-event", "order.paid", "--source", "shop", "--id", "E1",
                       "--data", '{"order_id": "A", "amount": "2"}', "--json").json
    started = event_instance_id("shipping", "shop", "E1")
    assert sent["started"] == [started]
    assert sent["resumed"] == [{"instance_id": started, "status": "completed"}]
    again = project.run("send-event", "order.paid", "--source", "shop", "--id", "E1",
                        "--data", '{"order_id": "A", "amount": "2"}', "--json").json
    assert again["duplicate"] and again["started"] == []
    assert project.counts()["romancy_instances"] == 1


def test_http_starts_on_event_after_the_commit_and_answers_400_naming_the_field(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    for running in run_server(db, app=App(str(db), registry=registry).initialize()):
        headers = {"Content-Type": "application/cloudevents+json"}

        def post(event_id: str, data: dict) -> requests.Response:
            event = {"specversion": "1.0", "type": "t.so.paid", "source": "shop", "id": event_id, "data": data}
            return requests.post(running.url, data=json.dumps(event), headers=headers, timeout=10)

        bad = post("E1", {"amount": 1})
        assert bad.status_code == 400
        assert bad.json()["error_type"] == "InvalidEventData" and "order_id" in bad.json()["error"]
        assert (running.rows("events"), running.rows("instances")) == (0, 0)
        assert post("E2", {"order_id": "ORD-1", "amount": 2}).status_code == 202
        started = event_instance_id("so_audit", "shop", "E2")
        assert running.wait_for(lambda: running.app.get(started).status == COMPLETED)
        assert running.app.get(started).output == "t.so.paid/shop/E2/ORD-1"
        ship = event_instance_id("so_shipping", "shop", "E2")
        assert running.wait_for(lambda: running.app.get(ship).status == WAITING_FOR_EVENT)
