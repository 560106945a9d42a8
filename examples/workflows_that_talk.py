"""Two workflows that talk through events on one database: checkout (talk/orders.py) publishes
`order.paid`; that starts a shipping instance (talk/shipping.py), which waits for
`shipment.picked_up` and publishes `order.shipped`; checkout waits for it, or for
`order.cancelled`, whichever comes first. Each file alone is one service of two that talk over
HTTP (docs/concepts/workflows-that-talk.md, "Across two services").

    python examples/workflows_that_talk.py
    romancy start checkout ORD-7 25                  # checkout waits; shipping was started by order.paid
    romancy send-event shipment.picked_up --data '{"order_id":"ORD-7","carrier":"DHL"}'
"""

from __future__ import annotations

from romancy_cli import App
from talk.orders import checkout
from talk.shipping import shipping

__all__ = ["checkout", "shipping"]


def main(database: str = "workflows_that_talk.db") -> str:
    with App(database=database, worker_id="worker-1") as app:
        instance_id = checkout.start(app, "ORD-7", 25.0)
        print(f">>> {instance_id}: {app.get(instance_id).status}; shipping started by order.paid")
        app.send_event("shipment.picked_up", {"order_id": "ORD-7", "carrier": "DHL"})
        instance = app.get(instance_id)
        print(f">>> {instance_id}: {instance.status} {instance.output}")
    return instance_id


if __name__ == "__main__":
    main()
