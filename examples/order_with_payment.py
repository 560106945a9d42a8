"""Workflows that call workflows: an order reserves stock, then runs its payment as a child
workflow and waits for it; a declined payment fails the child, the order catches that and
releases the stock. A paid order starts its confirmation mail as a child in the rate-limited
`notifications` queue and does not wait for it.

    python examples/order_with_payment.py        # one order paid, one declined
    romancy start order_with_payment ORD-7 25    # the same through the command line
    romancy status ORDER_ID --tree               # the order and its payment
"""

from __future__ import annotations

from romancy_cli import App, ChildWorkflowFailed, Queue, activity, execute_child, start_child, workflow

NOTIFICATIONS = Queue("notifications", rate="10/1m")  # a mail provider's limit: never more than 10 mails a minute


@activity("capture_payment")
def capture_payment(ctx, order_id: str, amount: float) -> dict:
    if amount > 100:  # a real program asks the payment provider, with ctx.idempotency_key
        raise ValueError(f"card declined for {amount:.2f}")
    return {"transaction_id": f"TXN-{order_id}", "amount": amount}


@activity("send_mail")
def send_mail(ctx, order_id: str) -> str:
    print(f"✉️ Mailing the confirmation of {order_id}")
    return f"MAIL-{order_id}"


@workflow("order_notification", queue="notifications")
def order_notification(ctx, order_id: str) -> str:
    return send_mail.execute(ctx, order_id)


@workflow("payment_child")
def payment_child(ctx, order_id: str, amount: float) -> dict:
    return capture_payment.execute(ctx, order_id, amount)


@activity("release_stock")
def release_stock(ctx, reservation: str, order_id: str) -> None:
    print(f"↩️ Releasing {reservation}")


@activity("reserve_stock", compensate=release_stock)
def reserve_stock(ctx, order_id: str) -> str:
    print(f"📦 Reserving stock for {order_id}")
    return f"RES-{order_id}"


@workflow("order_with_payment")
def order_with_payment(ctx, order_id: str, amount: float) -> dict:
    reservation = reserve_stock.execute(ctx, order_id)
    try:
        payment = execute_child(ctx, "payment_child", order_id, amount)  # id: <this id>:1
    except ChildWorkflowFailed as declined:
        release_stock.execute(ctx, reservation, order_id)
        return {"order_id": order_id, "status": "declined", "reason": declined.error["message"]}
    ctx.log(f"✅ Paid {payment['amount']:.2f} for {order_id}")
    start_child(ctx, "order_notification", order_id, parent_close="abandon")  # the mail outlives the order
    return {"order_id": order_id, "status": "paid", "transaction_id": payment["transaction_id"]}


def main(database: str = "children_demo.db") -> list[str]:
    with App(database=database, worker_id="worker-1") as app:
        orders = [order_with_payment.start(app, "ORD-7", 25.0), order_with_payment.start(app, "ORD-8", 250.0)]
        for order_id in orders:
            order = app.get(order_id)
            payment = app.children(order_id)[0]  # the notification, if any, comes after it
            print(f"{order_id}: {order.status} {order.output['status']}; "
                  f"payment {payment.instance_id}: {payment.status}")
    return orders


if __name__ == "__main__":
    main()
