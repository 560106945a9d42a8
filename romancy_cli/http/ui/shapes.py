"""What the page shows, built on views.py's stable shapes: where an error happened in the
user's code, the event a wait expects, and the start form's arguments."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Optional, Sequence

from ...records import ATTEMPT, TERMINAL, Instance, LoggedEvent, Step
from ...times import iso
from ...views import detail_view, event_view, step_result, with_attempts

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>.+)$', re.M)


def page_detail(instance: Instance, history: Sequence[Step], missed: Sequence[tuple[LoggedEvent, str]],
                now: float, children: Sequence[Instance] = ()) -> dict[str, Any]:
    """The instance page: GET /instances/{id}'s answer, plus what the page shows beyond it (the
    traceback, the wait's match and prefilled event, the timeline's errors)."""
    view = detail_view(instance, history, missed, children)
    view["terminal"] = instance.status in TERMINAL
    view["error_detail"] = error_detail(instance.error)
    view["wait"] = wait_detail(instance, now) if view["waiting"] else None
    view["timeline"] = [timeline_group(step, attempts) for step, attempts in with_attempts(history)]
    return view


def wait_detail(instance: Instance, now: float) -> dict[str, Any]:
    """The wait with its match and epoch due time (the page counts down to it); `now` on the
    server's clock (the database's virtual one)."""
    wait = instance.wait
    assert wait is not None
    detail: dict[str, Any] = {"kind": wait.kind, "event_type": wait.event_type, "match": wait.match,
                              "due": wait.wake_at, "attempt": wait.attempt, "step": wait.seq}
    if wait.kind == "event":
        detail["prefill"] = prefill_data(wait.match)
    if wait.wake_at is not None:  # the dev form's default: just enough to make it due
        detail["advance"] = f"{max(0, math.ceil(wait.wake_at - now))}s"
    return detail


def prefill_data(match: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Event data that satisfies `match`: dotted paths become nested objects."""
    data: dict[str, Any] = {}
    for path, value in (match or {}).items():
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


def error_detail(error: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The error with its traceback and the innermost frame of the user's own code."""
    if not error:
        return None
    trace = str(error.get("traceback") or "")
    return {"type": str(error.get("type", "Error")), "message": str(error.get("message", "")),
            "attempts": error.get("attempts"), "traceback": trace or None, "location": user_frame(trace)}


def user_frame(trace: str) -> Optional[str]:
    """`file:line in function` of the last frame outside romancy_cli, if any."""
    frames = [m for m in _FRAME.finditer(trace)
              if not m["file"].startswith(_PACKAGE_DIR) and not m["file"].startswith("<")]
    if not frames:
        return None
    last = frames[-1]
    return f"{last['file']}:{last['line']} in {last['fn'].strip()}"


def timeline_entry(step: Step) -> dict[str, Any]:
    """A step as the timeline shows it: failed activities carry their error, events a timeout."""
    result = step.result if isinstance(step.result, dict) else {}
    entry: dict[str, Any] = {"step": step.seq, "kind": step.kind, "name": step.name, "result": step_result(step),
                             "error": error_detail(result.get("error")) if "error" in result else None,
                             "timed_out": step.kind == "event" and result.get("timeout") is True}
    return entry


def timeline_group(step: Step, attempts: list[Step]) -> dict[str, Any]:
    """A step with its failed attempts under it; an attempt whose step is not recorded yet (its
    retry is due) is an entry of its own, listing itself."""
    if step.kind == ATTEMPT:
        return {"step": step.seq, "kind": ATTEMPT, "name": step.name, "attempts": [attempt_entry(step)]}
    return {**timeline_entry(step), "attempts": [attempt_entry(a) for a in attempts]}


def attempt_entry(step: Step) -> dict[str, Any]:
    """A failed attempt of the activity at its step: which one, its error and when it failed."""
    error = step.result.get("error") or {}
    return {"step": step.seq, "attempt": step.result.get("attempt"), "failed_at": iso(step.result.get("failed_at")),
            "error": {"type": str(error.get("type", "Error")), "message": str(error.get("message", "")),
                      "location": error.get("where")}}


def event_row(logged: LoggedEvent) -> dict[str, Any]:
    """GET /events's event, with the data and target the page shows too."""
    return {**event_view(logged), "data": logged.event.data, "target": logged.event.target}


def start_arguments(parameters: Sequence[dict[str, Any]], fields: dict[str, Any]) -> dict[str, Any]:
    """The start form's texts as keyword arguments: a `str` parameter takes the text as is,
    others take it as JSON (a number, an object...) and, when it is not JSON, as text for the
    workflow's own type check to judge. Empty optional fields are left to their defaults."""
    from ...jsonsafe import loads

    kwargs: dict[str, Any] = {}
    for parameter in parameters:
        name = parameter["name"]
        text = fields.get(name)
        if not isinstance(text, str) or (text == "" and not parameter["required"]):
            continue
        if parameter["type"] == "str":
            kwargs[name] = text
            continue
        try:
            kwargs[name] = loads(text)
        except ValueError:
            kwargs[name] = text
    return kwargs
