"""README "Writing workflows", the Python API as a user of the seed meets it: contexts, events, decoding, durations."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import pytest
from typing_extensions import TypedDict

from romancy_cli import (ActivityContext, EventDataError, ReceivedEvent, Registry, WorkflowContext,
                         activity, decode_event_data, sleep, wait_event, workflow)
from romancy_cli.durations import to_seconds
from romancy_cli.records import EventInput

registry = Registry()  # this module's workflows, so their names need only be unique here

SEEN: list = []


@pytest.fixture(autouse=True)
def _clear():
    SEEN.clear()


@activity
def plain_named_activity(ctx: ActivityContext, value: str) -> str:
    SEEN.append(ctx)
    return value.upper()


@workflow(registry=registry)  # no name: the function's
def plain_named(ctx: WorkflowContext, value: str) -> dict:
    SEEN.append((ctx.instance_id, ctx.workflow_name, ctx.is_replaying))
    shouted = plain_named_activity.execute(ctx, value)
    event = wait_event(ctx, "t.api.event")
    SEEN.append(event)
    return {"shouted": shouted}


def test_decorators_without_arguments_use_the_function_name(sqlite_app):
    assert plain_named_activity.name == "plain_named_activity"
    assert plain_named.name == "plain_named"
    assert sqlite_app.start("plain_named", "hi")


def test_definitions_given_a_registry_stay_out_of_the_default_one():
    from romancy_cli.definitions import REGISTRY

    own = Registry()

    @activity("own_step", registry=own)
    def own_step(ctx) -> None:
        return None

    @workflow("own_flow", registry=own)
    def own_flow(ctx) -> None:
        return None

    assert (own.workflow("own_flow"), own.activities["own_step"]) == (own_flow, own_step)
    assert "own_flow" not in REGISTRY.workflows and "own_step" not in REGISTRY.activities


def test_contexts_carry_ids_attempt_and_idempotency_key(sqlite_app):
    instance_id = plain_named.start(sqlite_app, "hi")
    (iid, name, replaying), actx = SEEN
    assert (iid, name, replaying) == (instance_id, "plain_named", False)
    assert isinstance(actx, ActivityContext)
    assert (actx.instance_id, actx.activity_id, actx.attempt) == (instance_id, "0:plain_named_activity", 1)
    assert actx.idempotency_key == f"{instance_id}/0:plain_named_activity"


def test_received_event_has_the_cloudevent_fields(sqlite_app):
    instance_id = plain_named.start(sqlite_app, "hi")
    sqlite_app.accept(EventInput("t.api.event", "/sensors/7", "ev-7", {"temp": 21.5}, subject="room-1",
                                 time="2024-05-01T12:00:00Z", data_content_type="application/json",
                                 extensions={"traceparent": "00-abc", "romancyinstanceid": instance_id}))
    event = SEEN[-1]
    assert isinstance(event, ReceivedEvent)
    assert (event.type, event.source, event.id, event.subject, event.time, event.data,
            event.data_content_type) == ("t.api.event", "/sensors/7", "ev-7", "room-1", "2024-05-01T12:00:00Z",
                                         {"temp": 21.5}, "application/json")
    assert event.extensions == {"traceparent": "00-abc", "romancyinstanceid": instance_id}
    assert sqlite_app.get(instance_id).output == {"shouted": "HI"}


def test_workflow_and_activity_stay_callable_as_plain_functions():
    assert plain_named_activity(None, "x") == "X"


# -- decode_event_data -------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Item:
    sku: str
    colour: Colour
    note: Optional[str] = None


class Basket(TypedDict):
    items: list[Item]
    total: float


def test_decode_event_data_handles_dataclasses_typeddicts_enums_and_containers():
    basket = decode_event_data({"items": [{"sku": "a", "colour": "red"}], "total": 3}, Basket)
    assert basket == {"items": [Item("a", Colour.RED)], "total": 3.0}
    assert decode_event_data(["1", 2], list[int]) == [1, 2]
    assert decode_event_data("blue", Colour) is Colour.BLUE
    assert decode_event_data({"x": 1.5}, dict[str, float]) == {"x": 1.5}


def test_decode_event_data_error_names_path_expected_and_received():
    with pytest.raises(EventDataError) as caught:
        decode_event_data({"items": [{"sku": "a", "colour": "green"}], "total": "n/a"}, Basket)
    message = str(caught.value)
    assert "items.0.colour" in message and "'red' or 'blue'" in message and "got str" in message
    assert "total" in message


def test_decode_event_data_accepts_pydantic_models():
    pydantic = pytest.importorskip("pydantic")

    class Payment(pydantic.BaseModel):
        amount: float

    assert decode_event_data({"amount": "2.5"}, Payment).amount == 2.5
    with pytest.raises(EventDataError, match="amount"):
        decode_event_data({"amount": "lots"}, Payment)


# -- durations -----------------------------------------------------------------------------------


@workflow("timedelta_sleep", registry=registry)
def timedelta_sleep(ctx) -> str:
    sleep(ctx, timedelta(minutes=90))
    return "done"


def test_durations_accept_timedelta_seconds_and_strings(sqlite_app, manual_clock):
    assert to_seconds(timedelta(hours=1, minutes=30)) == to_seconds("1h30m") == to_seconds(5400) == 5400
    instance_id = timedelta_sleep.start(sqlite_app)
    assert sqlite_app.get(instance_id).wait.wake_at == manual_clock.now() + 5400


def test_public_api_names_are_exported():
    import romancy_cli

    for name in ("App", "workflow", "activity", "RetryPolicy", "wait_event", "sleep", "decode_event_data",
                 "ReceivedEvent", "WorkflowContext", "ActivityContext", "EventTimeout", "EventDataError",
                 "ActivityError", "NonDeterminismError", "ManualClock"):
        assert name in romancy_cli.__all__ and hasattr(romancy_cli, name)
