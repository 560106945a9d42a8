"""The seed's complete program: start a payment, wait for payment.completed, decode it typed.

    python examples/payment_workflow.py          # starts ORD-123 and shows how to resume it
    romancy start payment_workflow ORD-123        # the same through the command line
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from romancy_cli import App, activity, decode_event_data, wait_event, workflow


@dataclass
class PaymentCompleted:
    order_id: str
    transaction_id: str
    amount: float
    status: str = "success"


@dataclass
class PaymentStartResult:
    payment_id: str
    status: str


@dataclass
class PaymentWorkflowResult:
    status: str
    transaction_id: str
    amount: float


@activity("start_payment_processing")
def start_payment_processing(ctx, order_id: str) -> PaymentStartResult:
    print(f"🔄 Starting payment for order {order_id}")
    return PaymentStartResult(payment_id=f"PAY-{order_id}", status="pending")


@workflow("payment_workflow")
def payment_workflow(ctx, order_id: str) -> PaymentWorkflowResult:
    payment = start_payment_processing.execute(ctx, order_id)
    ctx.log(f"Payment started: {payment.payment_id}")
    ctx.log("⏸️ Waiting for payment.completed event...")
    # match= correlates: concurrent orders each get their own payment.completed.
    event = wait_event(ctx, "payment.completed", timeout="5m", match={"order_id": order_id})
    payment_result = decode_event_data(event.data, PaymentCompleted)
    ctx.log(f"✅ Payment completed: ${payment_result.amount:.2f} for order {payment_result.order_id}")
    return PaymentWorkflowResult("completed", payment_result.transaction_id, payment_result.amount)


def main(database: str = "event_demo.db") -> str:
    print("=" * 60)
    print("Romancy Framework - Event Waiting Example")
    print("=" * 60)
    with App(database=database, worker_id="worker-1") as app:
        print(">>> Starting payment workflow...")
        instance_id = payment_workflow.start(app, "ORD-123")
        print(f"\n>>> Workflow started with instance ID: {instance_id}")
        print(">>> Send an event to resume the workflow:\n")
        # The event goes to this database, with this file's workflows, and an id of its own: a
        # second run's event is a new one, not a duplicate of the first run's.
        event_id = f"event-{instance_id}"
        print(f"romancy --db {shlex.quote(database)} --workflows {shlex.quote(__file__)} \\\n"
              f"  send-event payment.completed --source payment-service --id {event_id} \\\n"
              "  --data '{\"order_id\": \"ORD-123\", \"transaction_id\": \"TXN-456\", \"amount\": 99.99}'\n")
        print(f"or, with `romancy --db {shlex.quote(database)} --workflows {shlex.quote(__file__)} serve` running:\n")
        print(f"""curl -X POST http://localhost:8001/ \\
  -H "Content-Type: application/cloudevents+json" \\
  -d '{{
    "specversion": "1.0",
    "type": "payment.completed",
    "source": "payment-service",
    "id": "{event_id}",
    "data": {{"order_id": "ORD-123", "transaction_id": "TXN-456", "amount": 99.99}}
  }}'""")
    return instance_id


if __name__ == "__main__":
    main()
