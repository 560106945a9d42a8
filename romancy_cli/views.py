"""The public JSON shapes, in one place: `status --json`, `start --json`, `send-event --json`,
`tick --json`, `workflows --json`, and the HTTP layer's GET /instances/{id}.

These shapes are a public interface; change them only compatibly (add keys, never rename).
Times are RFC 3339 UTC strings with milliseconds; a stored time datetime cannot show stays its
epoch seconds (null when NaN/Infinity), see `times.iso`.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, Sequence

from .times import iso
from .records import WAITING_FOR_EVENT, WAITING_FOR_TIMER, Instance, Step

INSTANCE_KEYS = ("instance_id", "workflow", "status", "input", "output", "error", "created_at",
                 "updated_at", "waiting", "parked")


def instance_view(instance: Instance, history: Optional[Sequence[Step]] = None) -> dict[str, Any]:
    """One instance; `history` (a list of steps) is included only when given."""
    view: dict[str, Any] = {
        "instance_id": instance.instance_id,
        "workflow": instance.workflow,
        "status": instance.status,
        "input": {"args": list(instance.args), "kwargs": dict(instance.kwargs)},
        "output": instance.output,
        "error": error_view(instance.error),
        "created_at": iso(instance.created_at),
        "updated_at": iso(instance.updated_at),
        "waiting": waiting_view(instance),
        "parked": instance.parked,
    }
    if history is not None:
        view["history"] = [step_view(step) for step in history]
    return view


def error_view(error: Optional[dict[str, Any]]) -> Optional[dict[str, str]]:
    """`{type, message}`; the traceback stays out of the public shape (`status -v` shows it)."""
    if not error:
        return None
    return {"type": str(error.get("type", "Error")), "message": str(error.get("message", ""))}


def waiting_view(instance: Instance) -> Optional[dict[str, Any]]:
    """`{"event_type", "timeout_at"}` for an event wait (several types joined by `|`, as its step
    is named), `{"timer_due_at"}` for a timer or retry."""
    wait = instance.wait
    if wait is None or instance.status not in (WAITING_FOR_EVENT, WAITING_FOR_TIMER):
        return None  # a fired timer keeps its record until the next commit; it is not waited on
    if wait.kind == "event":
        return {"event_type": wait.step_name, "timeout_at": iso(wait.wake_at)}
    return {"timer_due_at": iso(wait.wake_at)}


def step_view(step: Step) -> dict[str, Any]:
    return {"step": step.seq, "kind": step.kind, "name": step.name, "result": step.result}


def start_view(instance: Instance, created: bool) -> dict[str, Any]:
    """`start --json`: the instance as `status --json` shows it, and whether it was created now."""
    return {**instance_view(instance), "created": created}


def send_view(result: Any) -> dict[str, Any]:
    """`send-event --json` from an App SendResult: delivered = waits it satisfied, started =
    instances it started (start_on), resumed = runs."""
    return {
        "event_id": result.event_id,
        "duplicate": result.duplicate,
        "delivered": list(result.delivered),
        "started": list(result.started),
        "resumed": [{"instance_id": iid, "status": status} for iid, status in result.resumed.items()],
    }


def tick_view(result: Any) -> dict[str, Any]:
    """`tick --json` from an engine TickResult."""
    return {
        "fired": list(result.fired),
        "resumed": [{"instance_id": iid, "status": status} for iid, status in result.resumed.items()],
        "next_due_at": iso(result.next_wake),
    }


def workflow_view(definition: Any, source: str) -> dict[str, Any]:
    """`workflows --json`: a registered workflow, its parameters (after the context), the event
    types that start it and its source."""
    hints = definition.hints
    return {
        "name": definition.name,
        "parameters": [_parameter_view(p, hints) for p in definition.parameters],
        "signature": definition.describe_parameters(),
        "start_on": list(definition.start_on),
        "source": source,
        "doc": inspect.cleandoc(definition.fn.__doc__) if definition.fn.__doc__ else None,
    }


def _parameter_view(parameter: inspect.Parameter, hints: dict[str, Any]) -> dict[str, Any]:
    annotation = hints.get(parameter.name)
    view: dict[str, Any] = {
        "name": parameter.name,
        "type": _type_name(annotation) if annotation is not None else None,
        "required": parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD),
    }
    if parameter.default is not inspect.Parameter.empty:
        view["default"] = _json_default(parameter.default)
    return view


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _json_default(value: Any) -> Any:
    from .codec import to_plain

    try:
        return to_plain(value)
    except TypeError:
        return repr(value)


__all__ = ["instance_view", "error_view", "waiting_view", "step_view", "start_view", "send_view",
           "tick_view", "workflow_view", "INSTANCE_KEYS"]
