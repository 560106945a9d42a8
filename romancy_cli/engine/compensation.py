"""Saga compensation: undoing, newest first, the activities a run completed, each undo a durable
activity step. Automatically after the workflow's code raised or a cancel stopped it (recorded
after an `ended` step, see context.WorkflowContext.ended_marker), or when the code calls
`compensate(ctx)` itself."""

from __future__ import annotations

from typing import Any, Awaitable, Optional

from ..errors import ActivityError, CompensationError
from ..records import CANCELLED, FAILED  # the names of an `ended` step: why compensation ran
from .context import Undo, WorkflowContext, run_coroutine


def compensate(ctx: WorkflowContext) -> Optional[Awaitable[None]]:
    """Undo now, newest first, the activities this run completed that declare `compensate=` and
    were not undone yet; each undo is a durable step. Raises CompensationError after running them
    all when some failed for good. `await` it in async workflows."""
    if ctx.is_async:
        return _compensate_async(ctx)
    _raise_failures(_undo_all(ctx))
    return None


async def _compensate_async(ctx: WorkflowContext) -> None:
    _raise_failures(await _undo_all_async(ctx))


def _raise_failures(failures: list[dict[str, Any]]) -> None:
    if failures:
        raise CompensationError(failures)


def _undo_all(ctx: WorkflowContext) -> list[dict[str, Any]]:
    failures = []
    while ctx.undo:
        undo = ctx.undo.pop()  # popped first: one that fails for good is not tried again
        with _compensating(ctx):
            try:
                ctx._activity(undo.activity, _undo_args(undo), undo.kwargs)
            except ActivityError as exc:
                failures.append(_failure(exc))
    return failures


async def _undo_all_async(ctx: WorkflowContext) -> list[dict[str, Any]]:
    failures = []
    while ctx.undo:
        undo = ctx.undo.pop()
        with _compensating(ctx):
            try:
                await ctx._activity(undo.activity, _undo_args(undo), undo.kwargs)
            except ActivityError as exc:
                failures.append(_failure(exc))
    return failures


class _compensating:
    """Commits made while an undo runs say status `compensating`; the code runs on afterwards."""

    def __init__(self, ctx: WorkflowContext) -> None:
        self.ctx, self.before = ctx, ctx.compensating

    def __enter__(self) -> None:
        self.ctx.compensating = True

    def __exit__(self, *exc: Any) -> None:
        self.ctx.compensating = self.before


def _undo_args(undo: Undo) -> tuple:
    return (undo.result, *undo.args)


def _failure(exc: ActivityError) -> dict[str, Any]:
    return {"activity": exc.activity, "type": exc.error_type, "message": str(exc)}


def after_end(ctx: WorkflowContext, name: str, error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """How a run that ended (`name`: failed or cancelled, with `error`) finishes: with nothing to
    undo, as it ended; otherwise after an `ended` step and the undo steps, with the recorded
    error and, when an undo failed for good, as failed with that failure added."""
    if not ctx.undo and not ctx.at_ended_marker():
        return name, error
    marker = ctx.ended_marker(name, error)
    failures = run_coroutine(_undo_all_async(ctx)) if ctx.is_async else _undo_all(ctx)
    if not failures:
        return marker.name, marker.result
    message = "; ".join(f["message"] for f in failures)
    return FAILED, {**marker.result, "message": f"{marker.result['message']}; then compensation failed: {message}",
                    "compensation_errors": failures}


__all__ = ["compensate", "after_end", "FAILED", "CANCELLED"]
