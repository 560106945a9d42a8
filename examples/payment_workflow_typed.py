"""The seed's type-safe variant: wait for payment.completed and decode its data into a dataclass.

    python examples/payment_workflow_typed.py    # starts ORD-777, sends its payment event, prints the result
"""

from __future__ import annotations

from dataclasses import dataclass

from romancy_cli import App, decode_event_data, wait_event, workflow


@dataclass
class PaymentCompleted:
    """Event data of payment.completed; a mismatch fails the instance naming the field."""

    order_id: str
    transaction_id: str
    amount: float
    status: str


@dataclass
class PaymentTypedResult:
    status: str
    amount: float


@workflow("payment_workflow_typed")
def payment_workflow_typed(ctx, order_id: str) -> PaymentTypedResult:
    event = wait_event(ctx, "payment.completed", timeout="5m", match={"order_id": order_id})
    payment = decode_event_data(event.data, PaymentCompleted)
    ctx.log(f"✅ Payment of ${payment.amount:.2f} completed for order {payment.order_id}")
    ctx.log(f"   Transaction ID: {payment.transaction_id}")
    return PaymentTypedResult(status="completed", amount=payment.amount)


def main(database: str = "payment_workflow_typed.db") -> str:
    with App(database=database, worker_id="worker-1") as app:
        instance_id = payment_workflow_typed.start(app, "ORD-777")
        print(f">>> {instance_id}: {app.get(instance_id).status}")
        print(">>> Sending payment.completed for ORD-777...")
        sent = app.send_event("payment.completed", source="payment-service", data={
            "order_id": "ORD-777", "transaction_id": "TXN-777", "amount": 42.5, "status": "success"})
        instance = app.get(instance_id)
        print(f">>> resumed {len(sent.resumed)} instance(s); {instance_id}: {instance.status} {instance.output}")
    return instance_id


if __name__ == "__main__":
    main()
