"""The seed's event-driven example: an order waits for packed, picked up and delivered events.

    python examples/order_fulfillment.py    # starts ORD-42 and sends the three events one by one
"""

from __future__ import annotations

from dataclasses import dataclass

from romancy_cli import App, wait_event, workflow


@dataclass
class FulfillmentResult:
    status: str


@workflow("order_fulfillment")
def order_fulfillment(ctx, order_id: str) -> FulfillmentResult:
    # match= makes each event resume only the instance for its own order.
    wait_event(ctx, "order.packed", match={"order_id": order_id})
    wait_event(ctx, "order.picked_up", match={"order_id": order_id})
    wait_event(ctx, "order.delivered", match={"order_id": order_id})
    return FulfillmentResult(status="delivered")


def main(database: str = "order_fulfillment.db") -> str:
    with App(database=database, worker_id="worker-1") as app:
        instance_id = order_fulfillment.start(app, "ORD-42")
        print(f">>> {instance_id}: {app.get(instance_id).status}")
        for event_type, source in (("order.packed", "warehouse"), ("order.picked_up", "carrier"),
                                   ("order.delivered", "carrier")):
            app.send_event(event_type, source=source, data={"order_id": "ORD-42"})
            instance = app.get(instance_id)
            waiting = f" for {instance.wait.event_type}" if instance.wait else ""
            print(f">>> {event_type}: {instance.status}{waiting}")
        print(f">>> result: {app.get(instance_id).output}")
    return instance_id


if __name__ == "__main__":
    main()
