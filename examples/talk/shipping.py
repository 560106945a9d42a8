"""The shipping service's side of "Workflows that talk": each `order.paid` starts shipping, which
waits for `shipment.picked_up` and publishes `order.shipped`."""

from __future__ import annotations

from romancy_cli import send_event, wait_event, workflow


@workflow("shipping", start_on="order.paid")
def shipping(ctx, order_id: str, amount: float) -> dict:
    """Started by each new `order.paid`; its data's order_id and amount are the arguments."""
    picked = wait_event(ctx, "shipment.picked_up", match={"order_id": order_id})
    carrier = picked.data["carrier"]
    send_event(ctx, "order.shipped", {"order_id": order_id, "carrier": carrier}, source="warehouse")
    return {"order_id": order_id, "carrier": carrier}
