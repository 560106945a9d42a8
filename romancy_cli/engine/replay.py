"""One run of a workflow over its history: (definition, input, history, hooks) -> outcome.

Pure apart from the user code it calls: storage is reached only through the hooks."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Optional, Union

from ..codec import convert, to_plain
from ..definitions import WorkflowDefinition
from ..errors import ActivityError, user_location
from ..records import Step, Wait
from . import compensation
from .continuation import ContinueAsNew
from .context import BodyEnded, Divergence, Hooks, Suspend, WorkflowContext, run_coroutine


@dataclass(frozen=True)
class Completed:
    steps: list[Step]
    output: Any


@dataclass(frozen=True)
class Suspended:
    steps: list[Step]
    wait: Wait


@dataclass(frozen=True)
class Failed:
    steps: list[Step]
    error: dict[str, Any]


@dataclass(frozen=True)
class Cancelled:
    """A cancel stopped the run, and what it had done was undone."""

    steps: list[Step]
    error: dict[str, Any]


@dataclass(frozen=True)
class ContinuedAsNew:
    """The run ended by continue_as_new: a new instance of the workflow starts with this input."""

    steps: list[Step]
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Diverged:
    """Non-determinism: nothing from this run is kept; the instance is parked."""

    signal: Divergence

    @property
    def message(self) -> str:
        return str(self.signal)


Outcome = Union[Completed, Suspended, Failed, Cancelled, ContinuedAsNew, Diverged]


def error_record(exc: BaseException, with_traceback: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    # An activity's failure is reported at the activity's line, not at the workflow's call of it.
    where = (exc.where if isinstance(exc, ActivityError) else None) or user_location(exc)
    if where:
        record["where"] = where
    if with_traceback:
        record["traceback"] = "".join(traceback.format_exception(exc))
    return record


def replay(definition: WorkflowDefinition, ctx: WorkflowContext, args: list[Any],
           kwargs: dict[str, Any]) -> Outcome:
    """Run the workflow from the top; history answers recorded steps, hooks the new ones. A run
    that fails or is cancelled then undoes its completed activities (compensation.after_end)."""
    try:
        result = _call(definition, ctx, args, kwargs)
        ctx.check_finished()
    except Suspend as signal:
        return Suspended(ctx.new_steps, signal.wait)
    except Divergence as signal:
        return Diverged(signal)
    except ContinueAsNew as signal:
        return ContinuedAsNew(ctx.new_steps, signal.new_args, signal.new_kwargs)
    except BodyEnded:  # at its `ended` step (which says why), or at a new step after a cancel
        return _ended(ctx, compensation.CANCELLED, ctx.cancel_request or {})
    except Exception as exc:
        return _ended(ctx, compensation.FAILED, error_record(exc))
    if ctx.cancel_request is not None:  # cancelled before it could record its end: undone all the same
        return _ended(ctx, compensation.CANCELLED, ctx.cancel_request)
    try:
        return Completed(ctx.new_steps, to_plain(result))
    except TypeError as exc:
        return Failed(ctx.new_steps, error_record(exc, with_traceback=False))


def _ended(ctx: WorkflowContext, name: str, error: dict[str, Any]) -> Outcome:
    try:
        name, error = compensation.after_end(ctx, name, error)
    except Suspend as signal:  # an undo waits for its retry
        return Suspended(ctx.new_steps, signal.wait)
    except Divergence as signal:
        return Diverged(signal)
    if name == compensation.CANCELLED:
        return Cancelled(ctx.new_steps, error)
    return Failed(ctx.new_steps, error)


def _call(definition: WorkflowDefinition, ctx: WorkflowContext, args: list[Any], kwargs: dict[str, Any]) -> Any:
    hints = definition.hints
    params = definition.parameters
    typed_args = [convert(v, hints.get(p.name)) for v, p in zip(args, params)]
    typed_args += args[len(params):]
    typed_kwargs = {k: convert(v, hints.get(k)) for k, v in kwargs.items()}
    if definition.is_async:
        return run_coroutine(definition.fn(ctx, *typed_args, **typed_kwargs))
    return definition.fn(ctx, *typed_args, **typed_kwargs)


def new_context(definition: WorkflowDefinition, instance_id: str, history: list[Step],
                hooks: Hooks, cancel_request: Optional[dict[str, Any]] = None) -> WorkflowContext:
    return WorkflowContext(instance_id, definition.name, list(history), hooks, definition.is_async, cancel_request,
                           definition)


def run(definition: WorkflowDefinition, instance_id: str, args: list[Any], kwargs: dict[str, Any],
        history: list[Step], hooks: Hooks,
        cancel_request: Optional[dict[str, Any]] = None) -> tuple[Outcome, WorkflowContext]:
    ctx = new_context(definition, instance_id, history, hooks, cancel_request)
    return replay(definition, ctx, args, kwargs), ctx


__all__ = ["Completed", "Suspended", "Failed", "Cancelled", "ContinuedAsNew", "Diverged", "Outcome", "run", "replay",
           "error_record"]
