"""Example workflows written by `romancy init`. Try:

    romancy run greet World                 # sleeps 2 seconds durably, then completes
    romancy start order_workflow ORD-1      # records a step, then waits for an event
    romancy send-event payment.completed --data '{"order_id": "ORD-1", "amount": 9.5}'
    romancy status                          # every instance; `romancy status ID` for one

A workflow is replayed from the top on every resume: activities run once and their results
are recorded, so keep side effects inside activities.
"""

from __future__ import annotations

from dataclasses import dataclass

from romancy_cli import EventTimeout, activity, decode_event_data, sleep, wait_event, workflow


@activity
def make_greeting(ctx, name: str, excited: bool) -> str:
    return f"Hello, {name}{'!' if excited else '.'}"


@workflow
def greet(ctx, name: str, excited: bool = True) -> dict:
    """Say hello, wait two seconds (a durable timer), say it again."""
    first = make_greeting.execute(ctx, name, excited)
    sleep(ctx, "2s")
    second = make_greeting.execute(ctx, f"again, {name}", excited)
    return {"greetings": [first, second]}


@dataclass
class Payment:
    order_id: str
    amount: float


@activity
def reserve_stock(ctx, order_id: str) -> dict:
    # ctx.idempotency_key is stable across retries: pass it to external services.
    return {"order_id": order_id, "reservation": f"RSV-{order_id}"}


@workflow
def order_workflow(ctx, order_id: str) -> dict:
    """Reserve stock, then wait up to 5 minutes for this order's payment.completed event."""
    reservation = reserve_stock.execute(ctx, order_id)
    try:
        event = wait_event(ctx, "payment.completed", timeout="5m", match={"order_id": order_id})
    except EventTimeout:
        return {"order_id": order_id, "status": "expired"}
    payment = decode_event_data(event.data, Payment)
    return {"order_id": order_id, "status": "paid", "amount": payment.amount,
            "reservation": reservation["reservation"]}
