"""The CloudEvents SDK at run time: App.send_event takes an SDK CloudEvent, a workflow's event
converts to one, and `send-event --url` posts what the SDK encodes. Real SQLite files; the SDK is
a dependency (2.x)."""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from romancy_cli import Registry, wait_event, workflow

registry = Registry()


@workflow("sdk_waiter", registry=registry)
def sdk_waiter(ctx, order_id: str) -> dict:
    received = wait_event(ctx, "sdk.paid", match={"order_id": order_id}).to_cloudevent()
    return {"type": received.get_type(), "id": received.get_id(), "source": received.get_source(),
            "subject": received.get_subject(), "data": received.get_data(),
            "channel": received.get_extension("channel")}


def test_an_sdk_cloudevent_resumes_its_instance_and_comes_back_as_one(sqlite_app) -> None:
    instance_id = sdk_waiter.start(sqlite_app, "ORD-1")
    event = CloudEvent({"type": "sdk.paid", "source": "/shop", "id": "pay-1", "subject": "orders/ORD-1",
                        "channel": "web"}, {"order_id": "ORD-1", "amount": 5})
    sent = sqlite_app.send_event(event)
    assert (sent.event_id, sent.resumed) == ("pay-1", {instance_id: "completed"})
    assert sqlite_app.get(instance_id).output == {
        "type": "sdk.paid", "id": "pay-1", "source": "/shop", "subject": "orders/ORD-1",
        "data": {"order_id": "ORD-1", "amount": 5}, "channel": "web"}


def test_an_sdk_cloudevent_can_be_targeted_and_is_stored_once(sqlite_app) -> None:
    first, second = sdk_waiter.start(sqlite_app, "ORD-2"), sdk_waiter.start(sqlite_app, "ORD-2")
    event = CloudEvent({"type": "sdk.paid", "source": "/shop", "id": "pay-2"}, {"order_id": "ORD-2"})
    assert sqlite_app.send_event(event, instance=second).resumed == {second: "completed"}
    assert sqlite_app.send_event(event).duplicate
    assert sqlite_app.get(first).status == "waiting_for_event"


def test_something_else_than_a_type_or_a_cloudevent_is_one_clear_error(sqlite_app) -> None:
    import pytest

    from romancy_cli import UsageError

    with pytest.raises(UsageError, match="send_event takes an event type or a cloudevents CloudEvent, not dict"):
        sqlite_app.send_event({"type": "sdk.paid"})
