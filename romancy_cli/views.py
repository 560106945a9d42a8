"""The public JSON shapes, in one place: `status --json`, `start --json`, `send-event --json`,
`tick --json`, `workflows --json`, `replay --check --json`, and the HTTP layer's GET /instances/{id}.

These shapes are a public interface; change them only compatibly (add keys, never rename).
Times are RFC 3339 UTC strings with milliseconds; a stored time datetime cannot show stays its
epoch seconds (null when NaN/Infinity), see `times.iso`.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, Sequence

from .times import iso
from .records import (ATTEMPT, PARKED, RETRIED, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Instance, LoggedEvent, Misfit, OutboxItem,
                      PruneResult, QueueState, Schedule, ScheduleRun, Step)

INSTANCE_KEYS = ("instance_id", "workflow", "status", "input", "output", "error", "created_at",
                 "updated_at", "waiting", "continued_from", "continued_as", "parent_id", "queue")


def shown_status(instance: Instance) -> str:
    """The status users see: `parked` is stored as running with the parked flag."""
    return PARKED if instance.parked else instance.status


def instance_view(instance: Instance, history: Optional[Sequence[Step]] = None) -> dict[str, Any]:
    """One instance; `history` (a list of steps) is included only when given."""
    view: dict[str, Any] = {
        "instance_id": instance.instance_id,
        "workflow": instance.workflow,
        "status": shown_status(instance),
        "input": {"args": list(instance.args), "kwargs": dict(instance.kwargs)},
        "output": instance.output,
        "error": error_view(instance.error),
        "created_at": iso(instance.created_at),
        "updated_at": iso(instance.updated_at),
        "waiting": waiting_view(instance),
        "continued_from": instance.continued_from,  # continue_as_new: the run before, and after, this one
        "continued_as": instance.continued_as,
        "parent_id": instance.parent_id,  # the workflow that started this one as its child, or null
        "queue": instance.queue,  # the queue it holds a slot of (or waits for, when queued), or null
    }
    if history is not None:
        view["history"] = [step_view(step) for step in history]
    return view


def error_view(error: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """`{type, message, where}`: `where` is the user's `path:line` that raised, or null; the
    traceback stays out of the public shape (`status -v` shows it)."""
    if not error:
        return None
    return {"type": str(error.get("type", "Error")), "message": str(error.get("message", "")),
            "where": error.get("where")}


def waiting_view(instance: Instance) -> Optional[dict[str, Any]]:
    """`{"event_type", "timeout_at"}` for an event wait (several types joined by `|`, as its step
    is named), `{"timer_due_at"}` for a timer or retry."""
    wait = instance.wait
    if wait is None or instance.status not in (WAITING_FOR_EVENT, WAITING_FOR_TIMER):
        return None  # a fired timer keeps its record until the next commit; it is not waited on
    if wait.kind == "event":
        return {"event_type": wait.step_name, "timeout_at": iso(wait.wake_at)}
    return {"timer_due_at": iso(wait.wake_at)}


# The times romancy writes into step results, by step kind (epoch seconds in the database): shown
# as RFC 3339 like every other time. Only these top-level keys: the rest is the user's data.
_STEP_TIMES = {"timer": "fired_at", "event": "at", ATTEMPT: "failed_at", RETRIED: "retried_at"}


def step_view(step: Step) -> dict[str, Any]:
    return {"step": step.seq, "kind": step.kind, "name": step.name, "result": step_result(step)}


def step_result(step: Step) -> Any:
    """The result with its times as RFC 3339: a `now` step's value, a timer's `fired_at`, a
    timeout's `at`, an attempt's `failed_at`, a retry's `retried_at`."""
    if step.kind == "now" and _is_time(step.result):
        return iso(step.result)
    key = _STEP_TIMES.get(step.kind)
    if key is None or not isinstance(step.result, dict) or not _is_time(step.result.get(key)):
        return step.result
    return {**step.result, key: iso(step.result[key])}


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def with_attempts(history: Sequence[Step]) -> list[tuple[Step, list[Step]]]:
    """Each step of a shown history with its failed attempts (kind `attempt`, just before it at
    its seq); the attempts of a step not recorded yet (its retry is due) stand on their own."""
    groups: list[tuple[Step, list[Step]]] = []
    attempts: list[Step] = []
    for step in history:
        if step.kind == ATTEMPT:
            attempts.append(step)
            continue
        groups += [(a, []) for a in attempts if a.seq != step.seq]
        groups.append((step, [a for a in attempts if a.seq == step.seq]))
        attempts = []
    return groups + [(a, []) for a in attempts]


def check_view(checked: int, misfits: Sequence[Misfit]) -> dict[str, Any]:
    """`replay --check --json`: how many instances were replayed and those that would be parked."""
    return {"checked": checked, "would_park": [misfit_view(m) for m in misfits]}


def misfit_view(misfit: Misfit) -> dict[str, Any]:
    return {"instance_id": misfit.instance.instance_id, "workflow": misfit.instance.workflow,
            "status": misfit.instance.status, "step": misfit.step,
            "recorded": _step_call(misfit.recorded), "new": _step_call(misfit.called),
            "message": misfit.message}


def _step_call(call: Optional[tuple[str, Optional[str]]]) -> Optional[dict[str, Optional[str]]]:
    return {"kind": call[0], "name": call[1]} if call is not None else None


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
        "near_misses": [{"instance_id": iid, "reason": reason} for iid, reason in result.near_misses],
    }


def event_view(logged: LoggedEvent) -> dict[str, Any]:
    """`events --json` and GET /events: a stored event and the instances that consumed it."""
    event = logged.event
    return {"seq": event.seq, "received_at": iso(event.received_at), "type": event.type,
            "source": event.source, "id": event.id, "subject": event.subject,
            "consumed_by": list(logged.consumed_by)}


def outbox_view(item: OutboxItem) -> dict[str, Any]:
    """`outbox --json`: an event published with a relay target and how relaying it went."""
    event = item.event
    return {"event_id": event.id, "type": event.type, "source": event.source, "target": item.target,
            "status": item.status, "attempts": item.attempts, "last_error": item.last_error,
            "next_attempt_at": iso(item.next_attempt_at)}


def near_miss_view(logged: LoggedEvent, reason: str) -> dict[str, Any]:
    """An event of the awaited type that a waiting instance did not accept, and the first reason."""
    event = logged.event
    return {"seq": event.seq, "id": event.id, "source": event.source,
            "received_at": iso(event.received_at), "reason": reason}


def detail_view(instance: Instance, history: Sequence[Step], missed: Sequence[tuple[LoggedEvent, str]],
                children: Sequence[Instance] = ()) -> dict[str, Any]:
    """`status ID --json` and GET /instances/{id}: the instance, its history, its near misses and
    the children it started (with the runs they continued as), oldest first."""
    view = instance_view(instance, history)
    view["near_misses"] = [near_miss_view(logged, reason) for logged, reason in missed]
    view["children"] = [child_view(child) for child in children]
    return view


def queue_view(state: QueueState) -> dict[str, Any]:
    """`romancy queues --json` and GET /queues: one queue, its limits and what it holds now."""
    spec = state.spec
    return {"queue": spec.name, "concurrency": spec.concurrency, "rate": spec.rate_text, "queued": state.queued,
            "running": state.running,
            "oldest_queued_at": iso(state.oldest_queued_at) if state.oldest_queued_at is not None else None}


def child_view(child: Instance) -> dict[str, Any]:
    return {"instance_id": child.instance_id, "workflow": child.workflow, "status": shown_status(child)}


def page_view(instances: Sequence[Instance], next_cursor: Optional[str]) -> dict[str, Any]:
    """GET /instances: one page, newest first; `next` continues it (null: no more)."""
    return {"instances": [instance_view(i) for i in instances], "next": next_cursor}


def prune_view(result: PruneResult, dry_run: bool) -> dict[str, Any]:
    """`prune --json`: rows removed (with --dry-run: that would be)."""
    return {"instances": result.instances, "steps": result.steps, "events": result.events, "dry_run": dry_run}


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


__all__ = ["shown_status", "instance_view", "error_view", "waiting_view", "step_view", "start_view", "send_view",
           "tick_view", "workflow_view", "step_result", "event_view", "near_miss_view", "detail_view", "page_view", "prune_view",
           "INSTANCE_KEYS"]


def schedule_view(schedule: Schedule, recent: Sequence[ScheduleRun],
                  upcoming: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """One schedule (`schedule list`/`describe --json`, GET /schedules): its settings, when it
    fires next (null while paused, or when its cron never comes again), when it last started a
    run, its newest handled slots and, from `describe`, its next slots. Slots are written in the
    schedule's timezone, as the ids of their instances (`<schedule>@<slot>`)."""
    from .durations import describe
    from .schedule_spec import slot_text

    view: dict[str, Any] = {
        "schedule_id": schedule.schedule_id,
        "workflow": schedule.workflow,
        "spec": dict(schedule.spec),
        "timezone": schedule.timezone,
        "input": dict(schedule.input),
        "overlap": schedule.overlap,
        "catchup_window": describe(schedule.catchup_window),
        "jitter": describe(schedule.jitter) if schedule.jitter else "0s",
        "paused": schedule.paused,
        "note": schedule.note,
        "source": schedule.source,
        "next_fire_at": None if schedule.paused else iso(schedule.due_at),
        "last_fired_at": iso(schedule.last_fired_at),
        "recent": [{"slot": slot_text(run.slot, schedule.timezone), "instance_id": run.instance_id,
                    "status": run.status or run.outcome} for run in recent],
    }
    if upcoming is not None:
        view["upcoming"] = [slot_text(slot, schedule.timezone) for slot in upcoming]
    return view
