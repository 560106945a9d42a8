"""Workflows that call workflows: start a child as a durable step, wait for its end as an event.

The CHILD step records the child's id and input; the store inserts the child with the commit that
writes the step (records.Commit.children), so it exists exactly when the step does and replay
never starts it twice. A child's final commit publishes a `romancy.child.completed` event
addressed to its parent (records.child_ended), which satisfies the parent's wait in that same
transaction, or waits, unconsumed, for the parent's next wait for it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Awaitable, Callable, Optional, Sequence, Union

from .. import ids
from ..durations import Duration, deadline, to_seconds
from ..errors import ChildWorkflowCancelled, ChildWorkflowFailed, ChildWorkflowTimeout, UsageError
from ..records import ABANDON, CANCELLED, CHILD, CHILD_ENDED, CLOSE, FAILED, Wait
from .context import Suspend, WorkflowContext

MODES = ("all", "any")


def start_child(ctx: WorkflowContext, workflow: Any, *args: Any, id: Optional[str] = None,
                parent_close: str = CLOSE, queue: Optional[str] = None, **kwargs: Any) -> Union[str, Awaitable[str]]:
    """Start the workflow `workflow` (a name or a decorated function) as a child of this one and
    return its id at once. The id defaults to `<this instance's id>:<step>`, the same on every
    replay; an `id` of an instance that exists already attaches to it, starting nothing. When this
    workflow fails or is cancelled, its running children are cancelled first, unless started
    with `parent_close="abandon"`. `queue` names the queue it starts in (default: its workflow's);
    a full queue leaves it `queued` until a slot frees. Await it in async workflows."""
    child_id = _start(ctx, workflow, args, kwargs, id, parent_close, queue)
    return ctx._await_or_value(lambda: child_id)


def wait_child(ctx: WorkflowContext, child_id: str, timeout: Optional[Duration] = None) -> Any:
    """Wait durably for the child `child_id` to end; its output. Raises ChildWorkflowFailed or
    ChildWorkflowCancelled when it did not complete, ChildWorkflowTimeout when `timeout` passed
    first (the child keeps running). A child that continued as new is followed to its chain's end."""
    _check_type(child_id)
    wake = _wake(ctx, timeout)
    outcome = _ended(ctx, child_id, wake)
    return ctx._await_or_value(lambda: _output(child_id, outcome))


def wait_children(ctx: WorkflowContext, ids_: Sequence[str], mode: str = "all",
                  timeout: Optional[Duration] = None) -> Any:
    """Wait for several children: `mode="all"` returns their outputs in the order of `ids_` (the
    first failure raises), `"any"` the first to end as `(id, output)`. `timeout` bounds the whole
    wait (ChildWorkflowTimeout)."""
    child_ids = list(ids_) if not isinstance(ids_, str) else []
    if not child_ids:
        raise UsageError(f"wait_children needs a non-empty list of child ids, not {ids_!r}")
    for child_id in child_ids:
        _check_type(child_id)
    if mode not in MODES:
        raise UsageError(f"wait_children: mode must be 'all' or 'any', not {mode!r}")
    until = _deadline(ctx, timeout)
    if mode == "all":
        outcomes = [_ended(ctx, child_id, until) for child_id in child_ids]
        return ctx._await_or_value(lambda: [_output(c, o) for c, o in zip(child_ids, outcomes)])
    child_id, outcome = _first_ended(ctx, child_ids, until)
    return ctx._await_or_value(lambda: (child_id, _output(child_id, outcome)))


def execute_child(ctx: WorkflowContext, workflow: Any, *args: Any, id: Optional[str] = None,
                  timeout: Optional[Duration] = None, parent_close: str = CLOSE, queue: Optional[str] = None,
                  **kwargs: Any) -> Any:
    """start_child then wait_child: run `workflow` as a child and return its output."""
    child_id = _start(ctx, workflow, args, kwargs, id, parent_close, queue)
    wake = _wake(ctx, timeout)
    outcome = _ended(ctx, child_id, wake)
    return ctx._await_or_value(lambda: _output(child_id, outcome))


def _start(ctx: WorkflowContext, workflow: Any, args: tuple, kwargs: dict, child_id: Optional[str],
           parent_close: str, queue: Optional[str] = None) -> str:
    name = getattr(workflow, "name", workflow)
    if not isinstance(name, str) or not name:
        raise UsageError(f"start_child needs a workflow name or a @workflow function, not {workflow!r}")
    if parent_close not in (CLOSE, ABANDON):
        raise UsageError(f"parent_close must be {CLOSE!r} or {ABANDON!r}, not {parent_close!r}")
    if child_id is not None:
        _check_type(child_id)
    step = ctx._next(CHILD, name)
    if step is None:
        if child_id is not None:  # a new id the user chose: one every route and terminal can show
            ids.check_instance_id(child_id)
        chosen = child_id if child_id is not None else f"{ctx.instance_id}:{ctx.cursor - 1}"
        plain_args, plain_kwargs, in_queue = ctx._hooks.bind_child(name, child_id, args, kwargs, queue)
        result = {"id": chosen, "args": plain_args, "kwargs": plain_kwargs, "parent_close": parent_close}
        if in_queue is not None:
            result["queue"] = in_queue
        step = ctx.record(CHILD, name, result)
    return str(step.result["id"])


def _check_type(child_id: Any) -> None:
    if not isinstance(child_id, str) or not child_id:
        raise UsageError(f"a child workflow's id must be a non-empty string, not {child_id!r}")


def _wake(ctx: WorkflowContext, timeout: Optional[Duration]) -> Callable[[], Optional[float]]:
    """When a single wait times out: its timeout counted from when it suspends, as wait_event's."""
    if timeout is None:
        return lambda: None
    to_seconds(timeout, "timeout")  # a bad timeout fails the run also when replayed
    return lambda: deadline(ctx._hooks.now(), timeout, "timeout")


def _deadline(ctx: WorkflowContext, timeout: Optional[Duration]) -> Callable[[], Optional[float]]:
    """One deadline for several waits: counted from a recorded now(), the same on every replay."""
    if timeout is None:
        return lambda: None
    to_seconds(timeout, "timeout")
    at = deadline(ctx.now().timestamp(), timeout, "timeout")
    return lambda: at


def _seen(ctx: WorkflowContext) -> dict[str, dict[str, Any]]:
    """The ends of children this run's history took so far (up to the cursor), by child id; read
    once per run, incrementally, so a parent of many children replays in linear time."""
    taken = ctx.children_ended
    for step in ctx.history[ctx.children_scanned:ctx.cursor]:
        if step.kind == CHILD:
            ctx.children_started.add(str(step.result["id"]))
        elif step.kind == "event" and step.name == CHILD_ENDED and not step.result.get("timeout"):
            data = step.result.get("data") or {}
            taken.setdefault(str(data.get("child_id")), data)
    ctx.children_scanned = max(ctx.children_scanned, ctx.cursor)
    return taken


def _ended(ctx: WorkflowContext, child_id: str, wake_at: Callable[[], Optional[float]]) -> dict[str, Any]:
    """The end of `child_id`: taken earlier in history, or by a new wait for it."""
    _check_started(ctx, child_id)
    while True:
        seen = _seen(ctx)
        if child_id in seen:
            return seen[child_id]
        _take_next(ctx, {"child_id": child_id}, wake_at, child_id)


def _first_ended(ctx: WorkflowContext, child_ids: list[str],
                 wake_at: Callable[[], Optional[float]]) -> tuple[str, dict[str, Any]]:
    """The first of `child_ids` to end: each wait takes the next child's end, whichever child it
    is; the others are kept in history for later waits."""
    for child_id in child_ids:
        _check_started(ctx, child_id)
    while True:
        seen = _seen(ctx)
        for child_id in child_ids:
            if child_id in seen:
                return child_id, seen[child_id]
        _take_next(ctx, None, wake_at, child_ids[0])


def _check_started(ctx: WorkflowContext, child_id: str) -> None:
    """Only a child this run started can be waited for: another id would wait forever."""
    _seen(ctx)
    if child_id not in ctx.children_started:
        raise UsageError(f"{child_id} is not a child of {ctx.instance_id}: wait only for ids that "
                         "start_child returned")


def _take_next(ctx: WorkflowContext, match: Optional[dict[str, Any]], wake_at: Callable[[], Optional[float]],
               timed_out: str) -> None:
    """One durable wait for a child's end (an event wait, addressed to this instance). An end
    stored already is taken at once, without suspending: a parent that finds 1,000 children
    ended replays once, not once per child."""
    wait = Wait("event", ctx.cursor, CHILD_ENDED, match)
    step = ctx._next("event", CHILD_ENDED)
    if step is None:
        ended = ctx._hooks.child_ended(ctx.history, match)
        if ended is None:
            raise Suspend(replace(wait, wake_at=wake_at()))
        step = ctx.record("event", CHILD_ENDED, ended.to_plain())
    if step.result.get("timeout"):
        raise ChildWorkflowTimeout(timed_out)


def _output(child_id: str, outcome: dict[str, Any]) -> Any:
    status = outcome.get("status")
    if status == FAILED:
        raise ChildWorkflowFailed(child_id, outcome.get("error") or {})
    if status == CANCELLED:
        raise ChildWorkflowCancelled(child_id, outcome.get("error"))
    return outcome.get("output")


__all__ = ["start_child", "wait_child", "wait_children", "execute_child"]
