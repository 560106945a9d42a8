"""README's "Workflows that talk", end to end through the `romancy` executable on one database:
checkout publishes order.paid, which starts shipping; shipping waits for shipment.picked_up and
publishes order.shipped, which checkout waits for (or for order.cancelled)."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Project
from example_modules import EXAMPLES


def _project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    project.write("romancy.toml", f'database = "romancy.db"\nworkflows = ["{EXAMPLES / "workflows_that_talk.py"}"]\n')
    return project


def _only(project: Project, workflow: str) -> dict:
    listed = project.run("status", "--workflow", workflow, "--json").json
    assert len(listed) == 1, listed
    return listed[0]


def test_an_order_is_shipped_through_events_between_two_workflows(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert project.run("workflows", "--json").json[1]["start_on"] == ["order.paid"]
    started = project.run("start", "checkout", "ORD-7", "25")
    assert started.code == 0, started.stderr
    order = started.stdout.strip()
    assert project.status_of(order) == "waiting_for_event"
    shipping = _only(project, "shipping")
    assert (shipping["status"], shipping["input"]["kwargs"]) == ("waiting_for_event", {"order_id": "ORD-7", "amount": 25.0})
    picked = project.run("send-event", "shipment.picked_up", "--data", '{"order_id": "ORD-7", "carrier": "DHL"}')
    assert picked.code == 0, picked.stderr
    assert _only(project, "shipping")["status"] == "completed"
    detail = project.run("status", order, "--json").json
    assert detail["output"] == {"order_id": "ORD-7", "charge": "CHG-ORD-7", "status": "shipped", "carrier": "DHL"}
    assert [s["kind"] for s in detail["history"]] == ["activity", "send", "event"]
    assert detail["history"][2]["result"]["type"] == "order.shipped"


def test_a_cancellation_wins_over_the_shipment(tmp_path: Path) -> None:
    project = _project(tmp_path)
    order = project.run("start", "checkout", "ORD-8", "5").stdout.strip()
    cancelled = project.run("send-event", "order.cancelled", "--data", '{"order_id": "ORD-8"}', "--json").json
    assert cancelled["resumed"] == [{"instance_id": order, "status": "completed"}]
    assert project.run("status", order, "--json").json["output"]["status"] == "cancelled"
    assert _only(project, "shipping")["status"] == "waiting_for_event"
