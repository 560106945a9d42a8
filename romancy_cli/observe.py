"""Hooks: objects told what the engine really did (never what a replay re-did).

A hook is any object; it defines the methods below that it wants, each called with keyword
arguments (accept `**_` too: later versions may add fields):

- `on_workflow_start(instance_id, workflow)`
- `on_workflow_end(instance_id, workflow, status, error)`: completed, failed, cancelled or
  continued_as_new, once committed; `error` is the error record or None
- `on_activity_start(instance_id, workflow, activity, attempt)`
- `on_activity_end(instance_id, workflow, activity, attempt, duration, error)`: each attempt;
  `error` is None or {"type", "message"}
- `on_event_received(type, source, id, outcome, instances)`: outcome `delivered`, `unmatched`,
  `duplicate` or `started`; `instances` the ids it was delivered to or started
- `on_timer_fired(instance_id, workflow, kind, lateness)`: a sleep, timeout or retry fell due;
  `lateness` in seconds after its due time
- `on_outbox_sent(event_type, event_id, target, attempts)` and
  `on_outbox_failed(event_type, event_id, target, error, final)`: a relay attempt, sent or
  failed (`final`: no attempt follows)
- `on_commit(duration)`: seconds one write transaction of a run took

A hook that raises is logged (logger `romancy.hooks`) and changes nothing of the workflow.

One hook may also trace (romancy_cli/tracing.py: OpenTelemetry): it has `TRACER_METHODS`, and the
engine asks it for spans and for the trace context to store with a new instance and to put on
the events a workflow publishes. Only the standard library is imported here: the engine calls it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterable, Mapping, Optional

from .errors import UsageError

HOOK_METHODS = ("on_workflow_start", "on_workflow_end", "on_activity_start", "on_activity_end",
                "on_event_received", "on_timer_fired", "on_outbox_sent", "on_outbox_failed", "on_commit")
TRACER_METHODS = ("new_trace", "run_span", "span", "headers")

log = logging.getLogger("romancy.hooks")


class Observers:
    """The hooks of one App; `emit` calls those that define a method, each guarded."""

    def __init__(self, hooks: Iterable[Any] = ()) -> None:
        self.hooks: list[Any] = []
        self.tracer: Optional[Any] = None  # the hook that traces, if any
        self._calls: dict[str, tuple[Any, ...]] = {name: () for name in HOOK_METHODS}
        for hook in hooks:
            self.add(hook)

    def add(self, hook: Any) -> None:
        """Register one more hook (a metrics collector `serve` adds, say)."""
        traces = all(callable(getattr(hook, name, None)) for name in TRACER_METHODS)
        if not traces and not any(callable(getattr(hook, name, None)) for name in HOOK_METHODS):
            raise UsageError(f"hook {hook!r} defines none of {', '.join(HOOK_METHODS)}")
        if traces:
            self.tracer = hook
        self.hooks.append(hook)
        self._calls = {name: tuple(getattr(h, name) for h in self.hooks if callable(getattr(h, name, None)))
                       for name in HOOK_METHODS}

    def wants(self, name: str) -> bool:
        """Whether any hook defines `name`: what is costly to measure is measured only then."""
        return bool(self._calls[name])

    def emit(self, name: str, **fields: Any) -> None:
        for call in self._calls[name]:
            try:
                call(**fields)
            except Exception:  # noqa: BLE001 - a hook's bug must not change a workflow's outcome
                log.warning("hook %s raised; ignored", getattr(call, "__qualname__", name), exc_info=True)

    # -- tracing: no-ops without a tracer --------------------------------------------------

    def new_trace(self, instance_id: str, workflow: str) -> Optional[str]:
        """The trace context (a W3C traceparent) to store with a new instance: under the current
        span (the event that starts it, the run that continues or publishes), else a new trace."""
        return self.tracer.new_trace(instance_id, workflow) if self.tracer is not None else None

    def run_span(self, instance_id: str, workflow: str, trace: Optional[str]) -> Any:
        """A context manager around one run of an instance: it yields a function that takes the
        status the run reached."""
        if self.tracer is None:
            return contextlib.nullcontext(_ignore)
        return self.tracer.run_span(instance_id, workflow, trace)

    def span(self, name: str, carrier: Mapping[str, Any], attributes: dict[str, Any]) -> Any:
        """A context manager around an operation whose parent trace context is in `carrier`
        (traceparent/tracestate); it yields a function that adds attributes."""
        if self.tracer is None:
            return contextlib.nullcontext(_ignore)
        return self.tracer.span(name, carrier, attributes)

    def headers(self) -> dict[str, str]:
        """traceparent (and tracestate) of the current span: what published events carry."""
        return self.tracer.headers() if self.tracer is not None else {}


def _ignore(*args: Any, **kwargs: Any) -> None:
    pass


__all__ = ["HOOK_METHODS", "TRACER_METHODS", "Observers"]
