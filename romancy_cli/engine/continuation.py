"""continue_as_new: end this run and start the same workflow afresh, with new input and an empty
history, so that a workflow that loops forever keeps a bounded history. The engine writes the end
of this run and the new instance in one transaction (records.Commit.successor)."""

from __future__ import annotations

from typing import Any, NoReturn

from .context import BodyEnded, Divergence, WorkflowContext

KIND = "continue_as_new"  # how a divergence names the call


class ContinueAsNew(BaseException):
    """Unwinds the run that continues as new, with the new run's input (checked, plain JSON).
    A BaseException so that the workflow's own `except Exception` cannot take it."""

    def __init__(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.new_args, self.new_kwargs = args, kwargs


def continue_as_new(ctx: WorkflowContext, *args: Any, **kwargs: Any) -> NoReturn:
    """End this run and start the same workflow again with `args` and `kwargs`, under a new
    instance id linked to this one (`continued_from` / `continued_as`); this instance ends with
    status `continued_as_new`. Never returns; `await continue_as_new(ctx, ...)` reads as well in
    async workflows. Arguments that do not fit the workflow's parameters raise UsageError here."""
    ctx._skip_markers()
    if ctx._body_ends_at(ctx.cursor):  # it failed here before, or a cancel asks to compensate
        raise BodyEnded()
    if ctx.cursor < len(ctx.history):  # history goes on past this point: the code changed
        step = ctx.history[ctx.cursor]
        raise Divergence(ctx.cursor, (step.kind, step.name), (KIND, ctx.workflow_name))
    plain_args, plain_kwargs = ctx.definition.bind(args, kwargs)  # type: ignore[union-attr]
    raise ContinueAsNew(plain_args, plain_kwargs)


__all__ = ["continue_as_new", "ContinueAsNew"]
