"""The contexts user code receives, the durable calls, and the signals that unwind a run."""

from __future__ import annotations

import inspect
import threading
import traceback
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Awaitable, Callable, Optional, Protocol, Sequence, Union

from ..codec import convert, to_plain
from ..definitions import ActivityDefinition, WorkflowDefinition
from ..durations import Duration, deadline, to_seconds
from ..errors import ActivityError, EventTimeout, UsageError, user_location
from ..records import EventInput, Step, Wait, attempt_step
from ..schedule_spec import slot_of
from ..times import to_datetime


class Suspend(BaseException):
    """Unwinds a run that must wait. BaseException so `except Exception` in user code cannot swallow it."""

    def __init__(self, wait: Wait) -> None:
        self.wait = wait


class Divergence(BaseException):
    """Replayed code called a different step than history holds; becomes NonDeterminismError.

    `called` is the (kind, name) the code calls at `seq` instead, None when it returns there."""

    def __init__(self, seq: int, recorded: tuple[str, Optional[str]], called: Optional[tuple[str, str]]) -> None:
        self.seq, self.recorded, self.called = seq, recorded, called
        kind, name = recorded
        held = f"{kind} {name!r}" if name is not None else kind
        does = f"calls {called[0]} {called[1]!r}" if called is not None else "returns before calling it"
        super().__init__(f"step {seq}: history recorded {held} but the code now {does}; "
                         "revert the change or finish old instances first")


class BodyEnded(BaseException):
    """Stops the workflow's code where its run ended before (an `ended` step in history) or, when
    a cancel was requested, at its next new step: what follows is compensation."""


PATCH = "patch"  # the kind of the step `patched` records
ENDED = "ended"  # the kind of the step that marks where a failed or cancelled run began compensating


@dataclass(frozen=True)
class Undo:
    """A completed activity's compensation, to be called as activity(ctx, result, *args, **kwargs)."""

    activity: ActivityDefinition
    result: Any
    args: tuple
    kwargs: dict


class Hooks(Protocol):
    """What a run needs from the engine when it reaches a step that history does not hold."""

    def now(self) -> float: ...

    def before_side_effect(self, ctx: "WorkflowContext") -> None: ...

    def failed_attempts(self, seq: int) -> int: ...

    def check_starts(self, event: EventInput) -> None:
        """Raise UsageError when a published event's data does not fit a workflow it starts."""

    def outbox_url(self) -> Optional[str]:
        """Where published events are relayed when send_event names no `to` (`[outbox] url`)."""

    def bind_child(self, workflow: str, child_id: Optional[str], args: tuple, kwargs: dict,
                   queue: Optional[str] = None) -> tuple[list[Any], dict[str, Any], Optional[str]]:
        """A child's input checked against its workflow, as plain JSON, and the queue it starts
        in (`queue`, else its workflow's); UsageError when it does not fit, when the queue is not
        declared, or when `child_id` names an instance of another workflow or parent."""

    def child_ended(self, history: list[Step], match: Optional[dict[str, Any]]) -> Optional[Any]:
        """A stored end of one of this instance's children (the one `match` names, or the oldest)
        that `history` has not taken yet, as a StoredEvent; None: the wait suspends."""

    def activity_started(self, ctx: "WorkflowContext", name: str, attempt: int) -> Any:
        """An activity's attempt begins (not a replay of it); returns what activity_ended gets."""

    def activity_ended(self, ctx: "WorkflowContext", name: str, attempt: int, started: Any,
                       error: Optional[BaseException]) -> None:
        """That attempt returned or raised."""

    def trace_headers(self) -> dict[str, str]:
        """The trace context of this run (traceparent, tracestate) for the events it publishes."""


@dataclass(frozen=True)
class ReceivedEvent:
    type: str
    source: str
    id: str
    time: Optional[str] = None
    subject: Optional[str] = None
    data: Any = None
    data_content_type: Optional[str] = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> "ReceivedEvent":
        return cls(
            type=plain["type"], source=plain["source"], id=plain["id"], time=plain.get("time"),
            subject=plain.get("subject"), data=plain.get("data"),
            data_content_type=plain.get("datacontenttype"), extensions=plain.get("extensions") or {},
        )

    def to_cloudevent(self) -> Any:
        """This event as a CloudEvents SDK `CloudEvent` (for code that speaks the SDK)."""
        from ..sdk import to_cloudevent

        return to_cloudevent(self.type, self.source, self.id, self.data, time=self.time, subject=self.subject,
                             data_content_type=self.data_content_type, extensions=self.extensions)


@dataclass(frozen=True)
class ActivityContext:
    instance_id: str
    activity_id: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts and replays of this step: pass it to external services."""
        return f"{self.instance_id}/{self.activity_id}"


class WorkflowContext:
    """Given to a workflow. Every durable call takes the next step position."""

    def __init__(self, instance_id: str, workflow_name: str, history: list[Step], hooks: Hooks,
                 is_async: bool = False, cancel_request: Optional[dict[str, Any]] = None,
                 definition: Optional[WorkflowDefinition] = None) -> None:
        self.instance_id = instance_id
        self.definition = definition  # checks the input of a continue_as_new
        self.workflow_name = workflow_name
        self.history = history
        self.replayed = len(history)
        self.new_steps: list[Step] = []
        self.cursor = 0
        self.is_async = is_async
        self._hooks = hooks
        self.cancel_request = cancel_request  # the Cancelled error of a cancel asking this run to undo
        self.undo: list[Undo] = []  # compensations of the completed activities, oldest first
        self.compensating = False
        self.ended_error: Optional[dict[str, Any]] = None  # the error compensation runs for
        self.children_ended: dict[str, dict[str, Any]] = {}  # children's ends history took (children.py)
        self.children_started: set[str] = set()  # ids of the children history started
        self.children_scanned = 0  # how far history was read for them

    @property
    def scheduled_at(self) -> Optional[datetime]:
        """The slot a schedule started this instance for (timezone-aware, in the schedule's
        offset), read from its id `<schedule>@<slot>`; None for an instance no schedule started."""
        found = slot_of(self.instance_id)
        return None if found is None else found[1]

    @property
    def is_replaying(self) -> bool:
        """True while the run is re-executing steps already recorded."""
        return self.cursor < self.replayed

    def log(self, message: str, *args: Any) -> None:
        """Print `message` (`%`-formatted with `args`) once: not while replaying recorded steps,
        so a workflow's progress line is not repeated by every resume. Not a step of history."""
        if not self.is_replaying:
            print(message % args if args else message, flush=True)

    def now(self) -> datetime:
        """Deterministic current time (UTC), recorded on first execution."""
        step = self._next("now", "now")
        if step is None:
            step = self.record("now", "now", self._hooks.now())
        return to_datetime(step.result)

    def uuid4(self) -> uuid.UUID:
        """Deterministic random UUID, recorded on first execution."""
        step = self._next("uuid4", "uuid4")
        if step is None:
            step = self.record("uuid4", "uuid4", str(uuid.uuid4()))
        return uuid.UUID(step.result)

    def patched(self, patch_id: str) -> bool:
        """True where this run takes the code added under `patch_id`: when it first reaches this
        point (recorded as a step) or replays a history that recorded it. False when replaying a
        history recorded before the patch existed; that takes no step, so the old history's
        positions still line up with the old branch."""
        run = self._markers_at_cursor()
        for offset, step in enumerate(run):
            if step.name == patch_id:  # markers before it belong to patches retired since
                self.cursor += offset + 1
                return True
        if self.cursor + len(run) < len(self.history):
            return False
        self.cursor += len(run)
        return self._first_patch(patch_id)

    def _first_patch(self, patch_id: str) -> bool:
        self.cursor += 1
        self.record(PATCH, patch_id, True)
        return True

    def _markers_at_cursor(self) -> list[Step]:
        end = self.cursor
        while end < len(self.history) and self.history[end].kind == PATCH:
            end += 1
        return self.history[self.cursor:end]

    def _skip_markers(self) -> None:
        # A marker the code no longer asks for is a retired patch: the code kept is its new branch.
        self.cursor += len(self._markers_at_cursor())

    def _next(self, kind: str, name: str) -> Optional[Step]:
        self._skip_markers()
        seq = self.cursor
        if not self.compensating and self._body_ends_at(seq):
            raise BodyEnded()
        self.cursor += 1
        if seq >= len(self.history):
            return None
        step = self.history[seq]
        if step.kind != kind or step.name != name:
            raise Divergence(seq, (step.kind, step.name), (kind, name))
        return step

    def _body_ends_at(self, seq: int) -> bool:
        if seq < len(self.history):
            return self.history[seq].kind == ENDED
        return self.cancel_request is not None

    def at_ended_marker(self) -> bool:
        """Whether history holds an `ended` step where the code stopped: compensation began."""
        seq = self.cursor + len(self._markers_at_cursor())
        return seq < len(self.history) and self.history[seq].kind == ENDED

    def ended_marker(self, name: str, error: dict[str, Any]) -> Step:
        """The `ended` step at the cursor, recorded with `name` and `error` on the first run; a
        replay keeps the recorded one (the original error). Compensation follows it."""
        self.compensating = True  # from here on new steps are compensations, not the body's
        self._skip_markers()
        marker = self.history[self.cursor] if self.cursor < len(self.history) else None
        if marker is not None and marker.kind == ENDED:
            self.cursor += 1
        else:
            self._next(ENDED, name)  # something else recorded here: Divergence
            marker = self.record(ENDED, name, error)
        self.ended_error = marker.result
        return marker

    def record(self, kind: str, name: str, result: Any, seq: Optional[int] = None) -> Step:
        # `seq` is given by async activities: others may have taken positions before this one ends.
        step = Step(self.cursor - 1 if seq is None else seq, kind, name, result)
        self.history.append(step)
        self.new_steps.append(step)
        return step

    def check_finished(self) -> None:
        """A run that ends before using all of history diverged from it."""
        self._skip_markers()
        if self.cursor < len(self.history):
            step = self.history[self.cursor]
            raise Divergence(self.cursor, (step.kind, step.name), None)

    def _await_or_value(self, compute: Callable[[], Any]) -> Any:
        if not self.is_async:
            return compute()

        async def later() -> Any:
            return compute()

        return later()

    def _activity(self, definition: ActivityDefinition, args: tuple, kwargs: dict) -> Any:
        step = self._next("activity", definition.name)
        if step is not None:
            return self._await_or_value(lambda: self._completed(definition, step.result, args, kwargs))
        seq = self.cursor - 1
        if self.is_async:
            return self._run_activity_async(definition, seq, args, kwargs)
        return self._completed(definition, self._run_activity(definition, seq, args, kwargs).result, args, kwargs)

    def _completed(self, definition: ActivityDefinition, result: dict[str, Any], args: tuple, kwargs: dict) -> Any:
        """The activity's value; one that declares an undo is remembered for compensation (replay
        calls the activities again in the same order, so the list is rebuilt with their arguments)."""
        value = _activity_value(definition, result)
        if definition.compensate is not None:
            self.undo.append(Undo(definition.compensate, value, args, kwargs))
        return value

    def _activity_context(self, definition: ActivityDefinition, seq: int) -> ActivityContext:
        self._hooks.before_side_effect(self)
        attempt = self._hooks.failed_attempts(seq) + 1
        return ActivityContext(self.instance_id, f"{seq}:{definition.name}", attempt)

    def _run_activity(self, definition: ActivityDefinition, seq: int, args: tuple, kwargs: dict) -> Step:
        actx = self._activity_context(definition, seq)
        started = self._hooks.activity_started(self, definition.name, actx.attempt)
        try:
            value = definition.fn(actx, *args, **kwargs)
            if inspect.iscoroutine(value):
                value = run_coroutine(value)
        except Exception as exc:
            self._hooks.activity_ended(self, definition.name, actx.attempt, started, exc)
            return self._activity_failed(definition, actx, seq, exc)
        self._hooks.activity_ended(self, definition.name, actx.attempt, started, None)
        return self.record("activity", definition.name, {"value": to_plain(value)}, seq)

    async def _run_activity_async(self, definition: ActivityDefinition, seq: int, args: tuple,
                                  kwargs: dict) -> Any:
        actx = self._activity_context(definition, seq)
        started = self._hooks.activity_started(self, definition.name, actx.attempt)
        try:
            value = definition.fn(actx, *args, **kwargs)
            if inspect.iscoroutine(value):
                value = await value
        except Exception as exc:
            self._hooks.activity_ended(self, definition.name, actx.attempt, started, exc)
            step = self._activity_failed(definition, actx, seq, exc)
        else:
            self._hooks.activity_ended(self, definition.name, actx.attempt, started, None)
            step = self.record("activity", definition.name, {"value": to_plain(value)}, seq)
        return self._completed(definition, step.result, args, kwargs)

    def _activity_failed(self, definition: ActivityDefinition, actx: ActivityContext, seq: int,
                         exc: Exception) -> Step:
        policy = definition.retry
        if policy.retries(exc, actx.attempt):
            now = self._hooks.now()
            # Kept with the retry wait's commit, beside history: replay does not read it.
            self.new_steps.append(attempt_step(seq, definition.name, actx.attempt, _failure(exc), now))
            raise Suspend(Wait("retry", seq, wake_at=now + policy.delay(actx.attempt), attempt=actx.attempt))
        error = {"type": type(exc).__name__, "message": str(exc), "attempts": actx.attempt,
                 "traceback": traceback.format_exc()}
        where = user_location(exc)
        if where:
            error["where"] = where
        return self.record("activity", definition.name, {"error": error}, seq)

    def _wait_event(self, event_types: Union[str, Sequence[str]], timeout: Optional[Duration],
                    match: Optional[dict], competing: bool = False) -> Any:
        first, *more = _event_types(event_types)
        if timeout is not None:
            to_seconds(timeout, "timeout")  # a bad timeout fails the run also when replayed
        match = to_plain(match) if match else None
        if not isinstance(competing, bool):
            raise UsageError(f"wait_event: competing must be True or False, not {competing!r}")
        wait = Wait("event", self.cursor, first, match, more_types=tuple(more), competing=competing)
        step = self._next("event", wait.step_name)
        if step is None:
            # The suspending commit delivers an event that is already stored, in its transaction.
            wake_at = deadline(self._hooks.now(), timeout, "timeout") if timeout is not None else None
            raise Suspend(replace(wait, wake_at=wake_at))
        return self._await_or_value(lambda: _received(step))

    def _sleep(self, duration: Duration) -> Any:
        seconds = to_seconds(duration, "sleep duration")
        step = self._next("timer", "sleep")
        if step is None:
            if seconds > 0:
                wake_at = deadline(self._hooks.now(), duration, "sleep duration")
                raise Suspend(Wait("timer", self.cursor - 1, wake_at=wake_at))
            self.record("timer", "sleep", {"fired_at": self._hooks.now()})
        return self._await_or_value(lambda: None)


def _failure(exc: Exception) -> dict[str, Any]:
    """A failed attempt's error: its type, message and where the user's code raised (or None)."""
    return {"type": type(exc).__name__, "message": str(exc), "where": user_location(exc)}


def _activity_value(definition: ActivityDefinition, result: dict[str, Any]) -> Any:
    if "error" in result:
        error = result["error"]
        raise ActivityError(definition.name, error["type"], error["message"], error["attempts"],
                            error.get("where"))
    return convert(result["value"], definition.hints.get("return"))


def _event_types(event_types: Union[str, Sequence[str]]) -> list[str]:
    """One type or a non-empty list of distinct non-empty types; order kept (it names the step)."""
    types = [event_types] if isinstance(event_types, str) else list(event_types)
    if not types or not all(isinstance(t, str) and t for t in types):
        raise UsageError(f"wait_event needs an event type or a non-empty list of them, not {event_types!r}")
    if len(set(types)) != len(types):
        raise UsageError(f"wait_event lists an event type twice: {types!r}")
    return types


def _received(step: Step) -> ReceivedEvent:
    if step.result.get("timeout"):
        raise EventTimeout(f"no {step.name!r} event arrived before the timeout")
    return ReceivedEvent.from_plain(step.result)


def wait_event(ctx: WorkflowContext, event_type: Union[str, Sequence[str]], timeout: Optional[Duration] = None,
               match: Optional[dict[str, Any]] = None,
               competing: bool = False) -> Union[ReceivedEvent, Awaitable[ReceivedEvent]]:
    """Wait durably for a CloudEvent of `event_type`, or of any type in a list of them (the first
    to arrive wins; its `type` says which); await it in async workflows.

    `match` is a dict of (dotted) data fields the event must carry, e.g. {"order_id": order_id}.
    When `timeout` passes first, EventTimeout is raised here. With `competing=True` an event not
    addressed to an instance is taken by one competing waiter only, the one waiting longest (a
    work queue), while the waits that are not competing still all receive it."""
    return ctx._wait_event(event_type, timeout, match, competing)


def sleep(ctx: WorkflowContext, duration: Duration) -> Any:
    """Sleep durably: the process is released and the instance resumes when the timer is due."""
    return ctx._sleep(duration)


_loops = threading.local()


def run_coroutine(coro: Any) -> Any:
    """Run a coroutine on this thread's own event loop (kept between runs: creating one is slow)."""
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        import asyncio  # only async workflows and activities need it; it is slow to import

        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)
