"""send_event: a workflow publishes a CloudEvent as a durable step (a transactional outbox).

The step records the whole event; the store writes the event with the commit that writes the step
(records.published_events), so it exists exactly when the step does, and replay returns the
recorded id without publishing again. With a target URL (`to=`, or `[outbox] url`) the step
records it too, and the store queues the event for the relay in that same transaction."""

from __future__ import annotations

from typing import Any, Awaitable, Optional, Union

from ..codec import to_plain
from ..config import HTTP_URL
from ..errors import UsageError
from ..jsonsafe import check
from ..records import SEND, Step, published_events
from .context import WorkflowContext


def send_event(ctx: WorkflowContext, event_type: str, data: Any = None, *, source: Optional[str] = None,
               subject: Optional[str] = None, id: Optional[str] = None,
               to: Optional[str] = None) -> Union[str, Awaitable[str]]:
    """Publish a CloudEvent of `event_type`; returns its id. Instances of this database waiting
    for it receive it as any incoming event. The id defaults to `<instance id>:<step>`, the same on
    every replay and re-execution, so a step run again after a crash is a duplicate, not a second
    event. `to` (an http:// or https:// URL; default `[outbox] url`) also relays the event there
    as a CloudEvent over HTTP, from `serve` or `tick`. Await it in async workflows."""
    step = ctx._next(SEND, event_type)
    if step is None:
        event = _event(ctx, event_type, data, source, subject, id)
        trace = ctx._hooks.trace_headers()
        if trace:  # CloudEvents Distributed Tracing: the receiver's spans join this workflow's trace
            event["extensions"] = trace
        target = _target(to) or ctx._hooks.outbox_url()
        if target is not None:
            event["to"] = target
        ctx._hooks.check_starts(published_events([Step(0, SEND, event_type, event)])[0])  # fail here, not at commit
        step = ctx.record(SEND, event_type, event)
    return ctx._await_or_value(lambda: str(step.result["id"]))


def _event(ctx: WorkflowContext, event_type: str, data: Any, source: Optional[str], subject: Optional[str],
           event_id: Optional[str]) -> dict[str, Any]:
    given = (("event type", event_type), ("source", source), ("id", event_id), ("subject", subject))
    for name, value in given[:1] + tuple(pair for pair in given[1:] if pair[1] is not None):
        if not isinstance(value, str) or not value:
            raise UsageError(f"send_event: the {name} must be a non-empty string, not {value!r}")
    plain = to_plain(data)
    check(plain, "data")
    return {"type": event_type, "source": source or f"romancy/{ctx.workflow_name}",
            "id": event_id or f"{ctx.instance_id}:{ctx.cursor - 1}", "subject": subject, "data": plain}


def _target(to: Optional[str]) -> Optional[str]:
    if to is not None and not (isinstance(to, str) and HTTP_URL.match(to)):
        raise UsageError(f"send_event: `to` must be an http:// or https:// URL, not {to!r}")
    return to
