"""Two workflows that talk through events on one database: checkout publishes `order.paid`; that
starts a shipping instance, which waits for `shipment.picked_up` and publishes `order.shipped`;
checkout waits for it, or for `order.cancelled`, whichever comes first.

    python examples/workflows_that_talk.py
    romancy start checkout ORD-7 25                  # checkout waits; shipping was started by order.paid
    romancy send-event shipment.picked_up --data '{"order_id":"ORD-7","carrier":"DHL"}'
"""

from __future__ import annotations

from romancy_cli import App, EventTimeout, activity, send_event, wait_event, workflow


@activity("charge_card")
def charge_card(ctx, order_id: str, amount: float) -> str:
    return f"CHG-{order_id}"  # a real one would pass ctx.idempotency_key to the payment provider


@workflow("checkout")
def checkout(ctx, order_id: str, amount: float) -> dict:
    charge = charge_card.execute(ctx, order_id, amount)
    # Written with this step, in one transaction: it starts `shipping` (start_on below).
    send_event(ctx, "order.paid", {"order_id": order_id, "amount": amount}, source="shop")
    try:
        event = wait_event(ctx, ["order.shipped", "order.cancelled"], timeout="7d", match={"order_id": order_id})
    except EventTimeout:
        return {"order_id": order_id, "charge": charge, "status": "no news for a week"}
    if event.type == "order.cancelled":
        return {"order_id": order_id, "charge": charge, "status": "cancelled"}
    return {"order_id": order_id, "charge": charge, "status": "shipped", "carrier": event.data["carrier"]}


@workflow("shipping", start_on="order.paid")
def shipping(ctx, order_id: str, amount: float) -> dict:
    """Started by each new `order.paid`; its data's order_id and amount are the arguments."""
    picked = wait_event(ctx, "shipment.picked_up", match={"order_id": order_id})
    carrier = picked.data["carrier"]
    send_event(ctx, "order.shipped", {"order_id": order_id, "carrier": carrier}, source="warehouse")
    return {"order_id": order_id, "carrier": carrier}


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
