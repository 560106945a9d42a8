"""The order service's side of "Workflows that talk": checkout charges the card, publishes
`order.paid` and waits for `order.shipped` or `order.cancelled`, whichever comes first."""

from __future__ import annotations

from romancy_cli import EventTimeout, activity, send_event, wait_event, workflow


@activity("charge_card")
def charge_card(ctx, order_id: str, amount: float) -> str:
    return f"CHG-{order_id}"  # a real one would pass ctx.idempotency_key to the payment provider


@workflow("checkout")
def checkout(ctx, order_id: str, amount: float) -> dict:
    charge = charge_card.execute(ctx, order_id, amount)
    # Written with this step, in one transaction: it starts `shipping` (start_on) where that runs.
    send_event(ctx, "order.paid", {"order_id": order_id, "amount": amount}, source="shop")
    try:
        event = wait_event(ctx, ["order.shipped", "order.cancelled"], timeout="7d", match={"order_id": order_id})
    except EventTimeout:
        return {"order_id": order_id, "charge": charge, "status": "no news for a week"}
    if event.type == "order.cancelled":
        return {"order_id": order_id, "charge": charge, "status": "cancelled"}
    return {"order_id": order_id, "charge": charge, "status": "shipped", "carrier": event.data["carrier"]}
