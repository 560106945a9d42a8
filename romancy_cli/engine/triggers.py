"""start_on: the instances an incoming event starts, with its data bound to their parameters.

Bound before anything is stored, so data that does not fit is an input error (HTTP 400, exit 2)
and the event is not stored; the store inserts the instances in the event's transaction."""

from __future__ import annotations

import inspect
from dataclasses import asdict
from typing import Any

from .. import ids
from ..definitions import Registry, WorkflowDefinition
from ..errors import UsageError
from ..records import RUNNING, EventInput, Instance
from .context import ReceivedEvent

_SKIPPED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def started_instances(registry: Registry, event: EventInput, now: float) -> list[Instance]:
    """One new instance per workflow started by `event`'s type; event_floor is set by the store
    to the event's seq, so the event does not also satisfy the new instance's waits."""
    return [Instance(ids.event_instance_id(d.name, event.source, event.id), d.name, RUNNING, [],
                     event_arguments(d, event), now, now)
            for d in registry.started_by(event.type)]


def check_starts(registry: Registry, event: EventInput) -> None:
    """Raise UsageError when `event`'s data does not fit a workflow it starts, building no
    instance (no id to derive): the cheap check of every event of a batch before any is stored."""
    for definition in registry.started_by(event.type):
        event_arguments(definition, event)


def event_arguments(definition: WorkflowDefinition, event: EventInput) -> dict[str, Any]:
    """Keyword arguments from the event's data fields of the same names, converted by the type
    hints; a parameter annotated ReceivedEvent gets the whole event."""
    hints, data, kwargs = definition.hints, event.data, {}
    for parameter in definition.parameters:
        if parameter.kind in _SKIPPED:
            continue
        if hints.get(parameter.name) is ReceivedEvent:
            kwargs[parameter.name] = asdict(_received(event))
        elif isinstance(data, dict) and parameter.name in data:
            kwargs[parameter.name] = data[parameter.name]
        elif parameter.default is inspect.Parameter.empty:
            raise UsageError(f"event {event.type} {event.id} cannot start workflow {definition.name!r}: "
                             f"its data has no field {parameter.name!r}")
    try:
        return definition.bind((), kwargs)[1]
    except UsageError as exc:
        raise UsageError(f"event {event.type} {event.id} cannot start workflow {definition.name!r}: {exc}") from None


def _received(event: EventInput) -> ReceivedEvent:
    return ReceivedEvent(event.type, event.source, event.id, event.time, event.subject, event.data,
                         event.data_content_type, dict(event.extensions))
