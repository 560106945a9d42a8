"""The seed's timer example: create an order, sleep 60 seconds durably, check payment, cancel if unpaid.

    python examples/order_with_timeout.py        # starts ORD-9, skips the 60 s with tick(advance=...)
    romancy run order_with_timeout ORD-9          # the same through the command line, in real time
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from romancy_cli import App, activity, sleep, workflow


@dataclass
class OrderResult:
    order_id: str


@dataclass
class PaymentStatusResult:
    paid: bool


@dataclass
class CancelResult:
    cancelled: bool


@dataclass
class OrderTimeoutResult:
    status: str
    reason: Optional[str] = None


@activity("create_order")
def create_order(ctx, order_id: str) -> OrderResult:
    print(f"📦 Creating order {order_id}")
    return OrderResult(order_id=order_id)


@activity("check_payment_status")
def check_payment_status(ctx, order_id: str) -> PaymentStatusResult:
    # A real program asks the payment service here.
    return PaymentStatusResult(paid=False)


@activity("cancel_order")
def cancel_order(ctx, order_id: str) -> CancelResult:
    print(f"🚫 Cancelling order {order_id}")
    return CancelResult(cancelled=True)


@workflow("order_with_timeout")
def order_with_timeout(ctx, order_id: str) -> OrderTimeoutResult:
    create_order.execute(ctx, order_id)
    ctx.log(f"Order {order_id} created")
    ctx.log("⏱️ Sleeping 60 seconds before checking payment...")
    # The instance is stored and the process released; a tick after 60 s continues it here.
    sleep(ctx, "60s")
    status = check_payment_status.execute(ctx, order_id)
    if status.paid:
        ctx.log("✅ Payment received!")
        return OrderTimeoutResult(status="completed")
    ctx.log("❌ Payment timeout - cancelling order")
    cancel_order.execute(ctx, order_id)
    return OrderTimeoutResult(status="cancelled", reason="payment_timeout")


def main(database: str = "order_with_timeout.db") -> str:
    with App(database=database, worker_id="worker-1") as app:
        instance_id = order_with_timeout.start(app, "ORD-9")
        print(f">>> {instance_id}: {app.get(instance_id).status}")
        print(">>> Skipping ahead 60 seconds (romancy tick --advance 60s)...")
        app.tick(advance="60s")
        instance = app.get(instance_id)
        print(f">>> {instance_id}: {instance.status} {instance.output}")
    return instance_id


if __name__ == "__main__":
    main()
