"""wait_event for any of several types, on SQLite and PostgreSQL: each type wins in turn, the
timeout wins, an event of a later-listed type sent before the wait is taken, targeted and
correlated delivery, and the index of extra types is emptied when the wait ends."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from romancy_cli import App, EventTimeout, ManualClock, Registry, sleep, wait_event, workflow
from romancy_cli.records import COMPLETED, WAITING_FOR_EVENT
from romancy_cli.views import waiting_view

registry = Registry()
NOW = 1_700_000_000.0
TYPES = ["t.any.completed", "t.any.failed", "t.any.refunded"]


@workflow("any_of", registry=registry)
def any_of(ctx, order_id: str) -> dict:
    try:
        event = wait_event(ctx, TYPES, timeout="5m", match={"order_id": order_id})
    except EventTimeout:
        return {"outcome": "timeout"}
    return {"outcome": event.type, "id": event.id}


@workflow("sleep_then_any", registry=registry)
def sleep_then_any(ctx, order_id: str) -> str:
    sleep(ctx, "10s")  # the event arrives while the instance sleeps, before it reaches the wait
    return wait_event(ctx, TYPES, match={"order_id": order_id}).type


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "romancy.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with App(database=url, worker_id="any", clock=ManualClock(NOW), registry=registry) as opened:
        yield opened


def _wait_type_rows(app: App) -> int:
    return app.store.db.execute_sql("SELECT COUNT(*) FROM romancy_wait_types").fetchone()[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("event_type", TYPES)
def test_each_listed_type_wins(app: App, event_type: str) -> None:
    iid = app.start("any_of", "ORD-1")
    assert app.get(iid).status == WAITING_FOR_EVENT
    assert waiting_view(app.get(iid))["event_type"] == "|".join(TYPES)
    result = app.send_event(event_type, {"order_id": "ORD-1"}, event_id="E1")
    assert result.resumed == {iid: COMPLETED}
    assert app.get(iid).output == {"outcome": event_type, "id": "E1"}
    step = app.history(iid)[-1]
    assert (step.kind, step.name, step.result["type"]) == ("event", "|".join(TYPES), event_type)
    assert _wait_type_rows(app) == 0


def test_other_types_and_other_orders_are_not_taken(app: App) -> None:
    iid = app.start("any_of", "ORD-1")
    assert app.send_event("t.any.unrelated", {"order_id": "ORD-1"}).delivered == ()
    assert app.send_event("t.any.failed", {"order_id": "ORD-2"}).delivered == ()
    assert app.get(iid).status == WAITING_FOR_EVENT
    assert app.send_event("t.any.refunded", {"order_id": "ORD-1"}, event_id="R").resumed == {iid: COMPLETED}
    assert app.get(iid).output["outcome"] == "t.any.refunded"


def test_the_timeout_wins(app: App) -> None:
    iid = app.start("any_of", "ORD-1")
    assert app.tick(advance="6m").resumed == {iid: COMPLETED}
    assert app.get(iid).output == {"outcome": "timeout"}
    assert app.send_event("t.any.failed", {"order_id": "ORD-1"}).delivered == ()
    assert _wait_type_rows(app) == 0


def test_an_event_of_the_second_type_sent_before_the_wait_is_taken(app: App) -> None:
    iid = app.start("sleep_then_any", "ORD-1")
    assert app.send_event("t.any.failed", {"order_id": "ORD-1"}, event_id="early").delivered == ()
    assert app.tick(advance="11s").resumed == {iid: COMPLETED}
    assert app.get(iid).output == "t.any.failed"
    assert app.history(iid)[-1].result["id"] == "early"


def test_a_targeted_event_of_a_later_type_reaches_only_its_instance(app: App) -> None:
    first = app.start("any_of", "ORD-1")
    second = app.start("any_of", "ORD-1")
    result = app.send_event("t.any.refunded", {"order_id": "ORD-1"}, instance=second)
    assert result.resumed == {second: COMPLETED}
    assert app.get(first).status == WAITING_FOR_EVENT


def test_a_broadcast_of_a_later_type_reaches_every_matching_instance(app: App) -> None:
    ids = {app.start("any_of", "ORD-1"), app.start("any_of", "ORD-1")}
    result = app.send_event("t.any.failed", {"order_id": "ORD-1"}, event_id="B")
    assert set(result.delivered) == ids
    assert all(app.get(i).output["outcome"] == "t.any.failed" for i in ids)


def test_cancelling_a_wait_for_several_types_forgets_them(app: App) -> None:
    iid = app.start("any_of", "ORD-1")
    assert _wait_type_rows(app) == len(TYPES) - 1
    app.cancel(iid)
    assert _wait_type_rows(app) == 0
    assert app.send_event("t.any.failed", {"order_id": "ORD-1"}).delivered == ()


@workflow("any_of_nothing", registry=registry)
def any_of_nothing(ctx) -> str:
    return wait_event(ctx, []).type


def test_an_empty_list_of_types_fails_the_workflow_with_a_usage_error(app: App) -> None:
    iid = app.start("any_of_nothing")
    instance = app.get(iid)
    assert instance.status == "failed"
    assert instance.error["type"] == "UsageError"
    assert "non-empty list" in instance.error["message"]
