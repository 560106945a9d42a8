"""App.list_instances / count_instances / list_events, the one listing path behind `status`,
`events`, GET /instances, GET /events and the web page, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import pytest

from romancy_cli import App, ManualClock, Registry, wait_event, workflow

registry = Registry()


@workflow("ui_list_order", registry=registry)
def order(ctx: object, order_id: str) -> str:
    event = wait_event(ctx, "ui.paid", match={"order_id": order_id})
    return event.data["order_id"]


@workflow("ui_list_other", registry=registry)
def other(ctx: object, note: str) -> str:
    return note


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "ui.db") if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    # The clock stands still: every instance has the same created_at, so only the instance id
    # orders them and keyset paging must break the tie.
    with App(url, worker_id="ui-test", clock=ManualClock(1_700_000_000.0), registry=registry) as opened:
        yield opened


def all_pages(app: App, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    after: Optional[tuple[float, str]] = None
    for _ in range(20):  # bounded: a listing that never ends would fail here
        found = app.list_instances(limit=3, after=after, **filters)  # type: ignore[arg-type]
        page = found[:2]  # one more than shown says whether another page follows
        pages.append([i.instance_id for i in page])
        if len(found) <= 2:
            return pages
        after = (page[-1].created_at, page[-1].instance_id)
    raise AssertionError("paging did not end")


def test_keyset_pages_cover_every_instance_once_newest_first_with_tied_times(app: App) -> None:
    ids = [order.start(app, f"ORD-{n}", instance_id=f"ui-{n}") for n in range(5)]
    pages = all_pages(app)
    assert pages == [["ui-4", "ui-3"], ["ui-2", "ui-1"], ["ui-0"]]
    assert sorted(sum(pages, [])) == sorted(ids)


def test_pages_filter_by_status_parked_workflow_and_search(app: App) -> None:
    for n in range(3):
        order.start(app, f"ORD-{n}", instance_id=f"ui-order-{n}")
    other.start(app, "hello <b>", instance_id="ui-other-1")
    app.send_event("ui.paid", {"order_id": "ORD-1"})
    assert all_pages(app, status="completed") == [["ui-other-1", "ui-order-1"]]
    assert all_pages(app, status="waiting_for_event", workflow="ui_list_order") == [["ui-order-2", "ui-order-0"]]
    assert all_pages(app, status="parked") == [[]]
    assert all_pages(app, search="ui-order-") == [["ui-order-2", "ui-order-1"], ["ui-order-0"]]
    assert all_pages(app, search="ORD-2") == [["ui-order-2"]]  # text of the input
    assert all_pages(app, search="50%_") == [[]]  # LIKE wildcards are literal
    assert all_pages(app, status="completed", search="hello") == [["ui-other-1"]]
    assert app.count_instances() == {"waiting_for_event": 2, "completed": 2}
    assert app.count_instances("ui_list_other") == {"completed": 1}


def test_events_newest_first_with_their_consumers_paged_on_seq(app: App) -> None:
    order.start(app, "ORD-7", instance_id="ui-7")
    app.send_event("ui.paid", {"order_id": "nobody"}, event_id="e1")
    app.send_event("ui.paid", {"order_id": "ORD-7"}, event_id="e2")
    app.send_event("ui.other", None, event_id="e3")
    first = app.list_events(limit=2)
    assert [(e.event.id, e.consumed_by) for e in first] == [("e3", ()), ("e2", ("ui-7",))]
    rest = app.list_events(limit=2, before=first[-1].event.seq)
    assert [(e.event.id, e.consumed_by) for e in rest] == [("e1", ())]
    assert [e.event.id for e in app.list_events("ui.paid")] == ["e2", "e1"]
    assert [e.event.id for e in app.list_events(unconsumed=True, before=first[0].event.seq)] == ["e1"]
