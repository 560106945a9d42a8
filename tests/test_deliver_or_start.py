"""send-event --instance ID --start-workflow W: start instance ID of W unless it exists, then
deliver the event to it, in one transaction (App on SQLite and PostgreSQL; the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from cli_helpers import make_project
from romancy_cli import App, ManualClock, Registry, wait_event, workflow
from romancy_cli.errors import UsageError
from romancy_cli.records import COMPLETED, WAITING_FOR_EVENT

registry = Registry()


@workflow("dos_cart", registry=registry)
def cart(ctx, customer: str, limit: int = 2) -> dict:
    items = []
    while len(items) < limit:
        items.append(wait_event(ctx, "t.dos.item").data["sku"])
    return {"customer": customer, "items": items}


@workflow("dos_other", registry=registry)
def other(ctx) -> str:
    return wait_event(ctx, "t.dos.item").id


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = str(tmp_path / "romancy.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with App(database=url, worker_id="dos", clock=ManualClock(1_700_000_000.0), registry=registry) as opened:
        yield opened


def _count(app: App, table: str) -> int:
    return app.store.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[attr-defined]


def test_the_first_event_starts_the_instance_and_it_receives_it_then_later_ones_are_delivered(app: App) -> None:
    first = app.send_event("t.dos.item", {"sku": "A"}, instance="cart-1", start_workflow="dos_cart",
                           kwargs={"customer": "ann"})
    assert first.started == ("cart-1",) and first.resumed == {"cart-1": WAITING_FOR_EVENT}
    assert [s.result["data"] for s in app.history("cart-1")] == [{"sku": "A"}]
    second = app.send_event("t.dos.item", {"sku": "B"}, instance="cart-1", start_workflow="dos_cart",
                            kwargs={"customer": "ann"})
    assert second.started == () and second.resumed == {"cart-1": COMPLETED}
    assert app.get("cart-1").output == {"customer": "ann", "items": ["A", "B"]}


def test_bad_arguments_or_another_workflows_instance_store_nothing(app: App) -> None:
    with pytest.raises(UsageError, match="customer"):
        app.send_event("t.dos.item", {"sku": "A"}, instance="cart-1", start_workflow="dos_cart")
    assert (_count(app, "romancy_events"), _count(app, "romancy_instances")) == (0, 0)
    app.start("dos_other", instance_id="taken")
    with pytest.raises(UsageError, match="dos_other"):
        app.send_event("t.dos.item", {"sku": "A"}, instance="taken", start_workflow="dos_cart",
                       kwargs={"customer": "ann"})
    assert _count(app, "romancy_events") == 0


CLI_WORKFLOWS = '''
from romancy_cli import wait_event, workflow


@workflow
def cart(ctx, customer: str) -> dict:
    first = wait_event(ctx, "item.added").data["sku"]
    second = wait_event(ctx, "item.added").data["sku"]
    return {"customer": customer, "items": [first, second]}
'''


def test_cli_deliver_or_start(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("workflows.py", CLI_WORKFLOWS)
    args = ["send-event", "item.added", "--instance", "c-1", "--start-workflow", "cart", "--input", '{"customer": "bo"}']
    bad = project.run("send-event", "item.added", "--instance", "c-1", "--start-workflow", "cart", "--input", "{}")
    assert bad.code == 2 and "customer" in bad.error_line
    assert project.counts() == {}
    first = project.run(*args, "--data", '{"sku": "A"}', "--json")
    assert first.code == 0, first.stderr
    assert first.json["started"] == ["c-1"]
    assert project.status_of("c-1") == WAITING_FOR_EVENT
    second = project.run(*args, "--data", '{"sku": "B"}', "--json").json
    assert second["started"] == [] and second["resumed"] == [{"instance_id": "c-1", "status": "completed"}]
    assert project.run("status", "c-1", "--json").json["output"] == {"customer": "bo", "items": ["A", "B"]}
    missing = project.run("send-event", "item.added", "--start-workflow", "cart")
    assert missing.code == 2 and "--instance" in missing.error_line
