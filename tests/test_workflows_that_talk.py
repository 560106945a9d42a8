"""README's "Workflows that talk", end to end through the `romancy` executable on one database:
checkout publishes order.paid, which starts shipping; shipping waits for shipment.picked_up and
publishes order.shipped, which checkout waits for (or for order.cancelled). Then the same across
two services: two `romancy serve` processes on two databases relaying to each other."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Project
from example_modules import EXAMPLES
from multiworker_support import Server, free_port
from relay_support import outbox_toml, wait_until


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


def _service(root: Path, workflows: str, peer_port: int) -> Project:
    """One service: its own folder, database and workflows file; [outbox] url is the other one."""
    root.mkdir()
    project = Project(root)
    project.write("romancy.toml", f'database = "romancy.db"\nworkflows = ["{EXAMPLES / "talk" / workflows}"]\n'
                  + outbox_toml(f"http://127.0.0.1:{peer_port}/", first_retry=0.1, max_backoff=0.5))
    return project


def _instances(project: Project) -> list[tuple]:
    return project.rows("SELECT workflow, status FROM romancy_instances")


def test_an_order_is_shipped_across_two_services_that_relay_to_each_other(tmp_path: Path) -> None:
    order_port, shipping_port = free_port(), free_port()
    orders = _service(tmp_path / "orders", "orders.py", shipping_port)
    shipping = _service(tmp_path / "shipping", "shipping.py", order_port)
    servers = [Server(orders, "orders", port=order_port), Server(shipping, "shipping", port=shipping_port)]
    try:
        for server in servers:
            server.wait_live()
        order = orders.run("start", "checkout", "ORD-7", "25").stdout.strip()
        # order.paid is relayed to the shipping service, where it starts shipping.
        assert wait_until(lambda: _instances(shipping) == [("shipping", "waiting_for_event")], limit=20, every=0.1)
        picked = orders.run("send-event", "shipment.picked_up", "--data", '{"order_id": "ORD-7", "carrier": "DHL"}',
                            "--url", servers[1].url)
        assert picked.code == 0, picked.stderr
        # order.shipped is relayed back to the order service, where checkout waits for it.
        assert wait_until(lambda: orders.status_of(order) == "completed", limit=20, every=0.1), servers[0].stderr()
    finally:
        for server in servers:
            server.stop()
    assert orders.run("status", order, "--json").json["output"] == {
        "order_id": "ORD-7", "charge": "CHG-ORD-7", "status": "shipped", "carrier": "DHL"}
    assert _instances(orders) == [("checkout", "completed")]
    assert _instances(shipping) == [("shipping", "completed")]
