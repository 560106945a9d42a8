"""send_event from a workflow, on SQLite and PostgreSQL: the event is written with the step that
records it, its id is fixed then and replayed, and the instances it satisfies (correlation, match,
dedupe, after their start) are resumed by the publishing process without a tick."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from cli_helpers import make_project
from romancy_cli import App, ManualClock, Registry, activity, send_event, sleep, wait_event, workflow
from romancy_cli.records import COMPLETED, FAILED, WAITING_FOR_EVENT, WAITING_FOR_TIMER

registry = Registry()
NOW = 1_700_000_000.0
CALLS: list[str] = []


@activity("pub_note", registry=registry)
def note(ctx, text: str) -> str:
    CALLS.append(text)
    return text


@workflow("pub_order", registry=registry)
def order(ctx, order_id: str) -> str:
    event_id = send_event(ctx, "t.pub.paid", {"order_id": order_id, "amount": 5}, source="shop", subject=order_id)
    note.execute(ctx, f"published {event_id}")  # the commit before it holds the step and the event
    return event_id


@workflow("pub_fixed_id", registry=registry)
def fixed_id(ctx, order_id: str) -> str:
    return send_event(ctx, "t.pub.paid", {"order_id": order_id}, source="shop", id=f"paid-{order_id}")


@workflow("pub_then_sleep", registry=registry)
def then_sleep(ctx, order_id: str) -> str:
    sleep(ctx, "10s")
    return send_event(ctx, "t.pub.paid", {"order_id": order_id})


@workflow("pub_waiter", registry=registry)
def waiter(ctx, order_id: str) -> dict:
    event = wait_event(ctx, "t.pub.paid", match={"order_id": order_id})
    return {"id": event.id, "source": event.source, "subject": event.subject, "data": event.data}


@workflow("pub_bad_data", registry=registry)
def bad_data(ctx) -> str:
    return send_event(ctx, "t.pub.paid", {"x": float("nan")})


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "romancy.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    CALLS.clear()
    with App(database=url, worker_id="pub", clock=ManualClock(NOW), registry=registry) as opened:
        yield opened


def _events(app: App, event_type: str) -> list[tuple]:
    return app.store.db.execute_sql(  # type: ignore[attr-defined]
        "SELECT source, event_id, subject, data FROM romancy_events WHERE type = %s ORDER BY seq"
        .replace("%s", app.store.db.param), (event_type,)).fetchall()  # type: ignore[attr-defined]


def test_a_published_event_resumes_the_matching_waiter_in_the_publishing_process(app: App) -> None:
    waiting = app.start("pub_waiter", "ORD-1")
    other = app.start("pub_waiter", "ORD-2")
    publisher = app.start("pub_order", "ORD-1")
    assert app.get(publisher).status == COMPLETED
    event_id = app.get(publisher).output
    assert event_id == f"{publisher}:0"
    assert app.get(waiting).status == COMPLETED  # no tick, no send-event
    assert app.get(waiting).output == {"id": event_id, "source": "shop", "subject": "ORD-1",
                                       "data": {"order_id": "ORD-1", "amount": 5}}
    assert app.get(other).status == WAITING_FOR_EVENT
    step = app.history(publisher)[0]
    assert (step.kind, step.name, step.result["id"]) == ("send", "t.pub.paid", event_id)
    assert CALLS == [f"published {event_id}"]


def test_the_event_is_stored_once_and_replay_returns_the_recorded_id(app: App) -> None:
    publisher = app.start("pub_then_sleep", "ORD-1")
    assert app.get(publisher).status == WAITING_FOR_TIMER
    assert _events(app, "t.pub.paid") == []  # nothing published before its step runs
    assert app.tick(advance="11s").resumed == {publisher: COMPLETED}
    rows = _events(app, "t.pub.paid")
    assert [(r[0], r[1]) for r in rows] == [("romancy/pub_then_sleep", app.get(publisher).output)]


def test_an_instance_started_after_the_event_does_not_receive_it(app: App) -> None:
    app.start("pub_order", "ORD-1")
    late = app.start("pub_waiter", "ORD-1")
    assert app.get(late).status == WAITING_FOR_EVENT


def test_a_published_event_reaches_waiters_of_a_tick_batch(app: App) -> None:
    waiting = app.start("pub_waiter", "ORD-1")
    publisher = app.start("pub_then_sleep", "ORD-1")
    assert app.tick(advance="11s").resumed == {publisher: COMPLETED, waiting: COMPLETED}


def test_a_second_event_with_the_same_source_and_id_is_a_duplicate(app: App) -> None:
    first_waiter = app.start("pub_waiter", "A")
    app.start("pub_fixed_id", "A")
    assert app.get(first_waiter).status == COMPLETED
    second_waiter = app.start("pub_waiter", "A")
    again = app.start("pub_fixed_id", "A")
    assert app.get(again).output == "paid-A"
    assert app.get(second_waiter).status == WAITING_FOR_EVENT
    assert len(_events(app, "t.pub.paid")) == 1


def test_data_json_cannot_carry_fails_the_workflow_and_publishes_nothing(app: App) -> None:
    iid = app.start("pub_bad_data")
    assert app.get(iid).status == FAILED
    assert "has no JSON form" in app.get(iid).error["message"]
    assert _events(app, "t.pub.paid") == []


CLI_WORKFLOWS = '''
from romancy_cli import send_event, wait_event, workflow


@workflow
def payer(ctx, order_id: str) -> str:
    return send_event(ctx, "order.paid", {"order_id": order_id}, source="shop")


@workflow
def shipper(ctx, order_id: str) -> str:
    return wait_event(ctx, "order.paid", match={"order_id": order_id}).id
'''


def test_the_cli_start_that_publishes_resumes_the_waiter_and_history_shows_the_event(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("workflows.py", CLI_WORKFLOWS)
    shipper = project.run("start", "shipper", "ORD-7").stdout.strip()
    payer = project.run("start", "payer", "ORD-7")
    assert payer.code == 0, payer.stderr
    assert "sent order.paid" in payer.stderr
    assert project.status_of(shipper) == COMPLETED
    detail = project.run("status", payer.stdout.strip(), "--json").json
    assert detail["history"][0]["kind"] == "send"
    assert detail["history"][0]["result"]["id"] == detail["output"]
    assert project.run("status", shipper, "--json").json["output"] == detail["output"]
