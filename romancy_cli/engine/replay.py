"""One run of a workflow over its history: (definition, input, history, hooks) -> outcome.

Pure apart from the user code it calls: storage is reached only through the hooks."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Union

from ..codec import convert, to_plain
from ..definitions import WorkflowDefinition
from ..errors import ActivityError, user_location
from ..records import Step, Wait
from .context import Divergence, Hooks, Suspend, WorkflowContext, run_coroutine


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
class Diverged:
    """Non-determinism: nothing from this run is kept; the instance is parked."""

    signal: Divergence

    @property
    def message(self) -> str:
        return str(self.signal)


Outcome = Union[Completed, Suspended, Failed, Diverged]


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
    """Run the workflow from the top; history answers recorded steps, hooks the new ones."""
    try:
        result = _call(definition, ctx, args, kwargs)
        ctx.check_finished()
    except Suspend as signal:
        return Suspended(ctx.new_steps, signal.wait)
    except Divergence as signal:
        return Diverged(signal)
    except Exception as exc:
        return Failed(ctx.new_steps, error_record(exc))
    try:
        return Completed(ctx.new_steps, to_plain(result))
    except TypeError as exc:
        return Failed(ctx.new_steps, error_record(exc, with_traceback=False))


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
                hooks: Hooks) -> WorkflowContext:
    return WorkflowContext(instance_id, definition.name, list(history), hooks, definition.is_async)


def run(definition: WorkflowDefinition, instance_id: str, args: list[Any], kwargs: dict[str, Any],
        history: list[Step], hooks: Hooks) -> tuple[Outcome, WorkflowContext]:
    ctx = new_context(definition, instance_id, history, hooks)
    return replay(definition, ctx, args, kwargs), ctx


__all__ = ["Completed", "Suspended", "Failed", "Diverged", "Outcome", "run", "replay", "error_record"]
