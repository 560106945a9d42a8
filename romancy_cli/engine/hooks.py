"""What a run asks of the engine while it replays (the calls of context.Hooks), and what
its first commit must also write."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Optional

from ..observe import Observers
from ..records import (COMPENSATING, RUNNING, Commit, EventInput, Instance, PendingDelivery, Step, StoredEvent,
                       Transition)
from .context import WorkflowContext
from .deadlines import DEADLINES

GRACE = 0.05  # seconds a new instance's first activity may run before the instance is written alone
STILL_RUNNING = Transition(RUNNING, keep_lease=True)

Write = Callable[[Commit], Optional[StoredEvent]]


class FirstWrite:
    """The new instance (`create`) or the replayed event (`delivery`) that the run's next commit
    must write first, until one has. A new instance waits for its first activity, to be stored
    with the activity's result in one transaction; an activity still running after GRACE gets it
    written from the deadline thread, so that a process killed during the activity leaves the
    instance to be recovered. If that write fails, the instance stays pending for the run's next
    commit, which meets the same fault or succeeds."""

    def __init__(self, instance_id: str, create: Optional[Instance], delivery: Optional[PendingDelivery],
                 write: Write) -> None:
        self.instance_id, self.create, self.delivery = instance_id, create, delivery
        self._write = write
        self._lock = threading.Lock()  # the run's thread and the deadline thread
        self._grace: Optional[int] = None

    def take(self) -> tuple[Optional[Instance], Optional[PendingDelivery]]:
        """What the next commit writes first; nothing afterwards."""
        with self._lock:
            self._end_grace()
            taken = self.create, self.delivery
            self.create = self.delivery = None
            return taken

    def start_grace(self) -> None:
        with self._lock:
            if self.create is not None and self._grace is None:
                self._grace = DEADLINES.after(GRACE, self.write_now)

    def write_now(self) -> None:
        """Write the new instance alone, if still pending: after GRACE, or when the run is
        interrupted during its first activity (Ctrl-C), so that it is recovered later."""
        with self._lock:
            self._end_grace()
            if self.create is None:
                return
            self._write(Commit(self.instance_id, [], STILL_RUNNING, create=self.create))
            self.create = None

    def interrupted(self) -> None:
        if self._grace is not None:
            self.write_now()

    def _end_grace(self) -> None:
        if self._grace is not None:
            DEADLINES.cancel(self._grace)
            self._grace = None


def _while_running(ctx: WorkflowContext) -> Transition:
    """Running, or compensating (showing the error it compensates for) while an undo runs."""
    if ctx.compensating:
        return Transition(COMPENSATING, error=ctx.ended_error, keep_lease=True)
    return STILL_RUNNING


class FiredBatch:
    """The runs at rest that one tick fired, written together in one transaction: at the end, or
    once the first of them has waited GRACE (from the deadline thread), so that a slow activity
    later in the batch holds no completion back. A crash before that leaves those instances leased
    to a dead process, to be recovered and their last activities run again (at-least-once). If
    the deadline thread's write fails, the commits stay pending for flush(), which meets the same
    fault or succeeds."""

    def __init__(self, write_many: Callable[[list[Commit]], list[str]]) -> None:
        self._write_many = write_many  # -> the instances not written (their lease was lost)
        self._commits: list[Commit] = []
        self._lock = threading.Lock()  # the run's thread and the deadline thread
        self._grace: Optional[int] = None
        self.lost: list[str] = []  # cancelled or taken over before their run was written

    def add(self, commit: Commit) -> None:
        with self._lock:
            self._commits.append(commit)
            if self._grace is None:
                self._grace = DEADLINES.after(GRACE, self._flush_late)

    def flush(self) -> None:
        with self._lock:
            if self._grace is not None:
                DEADLINES.cancel(self._grace)
            self._write_pending()

    def _flush_late(self) -> None:
        with self._lock:
            try:
                self._write_pending()
            except BaseException:  # noqa: BLE001 - still pending: flush() writes or raises them
                pass

    def _write_pending(self) -> None:
        self._grace = None
        commits, self._commits = self._commits, []
        if not commits:
            return
        try:
            self.lost += self._write_many(commits)
        except BaseException:
            self._commits[:0] = commits
            raise


class RunHooks:
    """context.Hooks for one run: the clock, attempts of retried activities, and the commit before
    each side effect. A fault of that commit stops the run even if the workflow's code caught it."""

    def __init__(self, instance: Instance, now: Callable[[], float], first: FirstWrite, write: Write,
                 starts: Callable[[EventInput], object], batch: Optional[FiredBatch] = None,
                 outbox_url: Optional[str] = None, bind_child: Optional[Callable[..., Any]] = None,
                 child_ends: Optional[Callable[[], list[StoredEvent]]] = None,
                 observers: Optional[Observers] = None) -> None:
        self.instance, self.first, self.batch = instance, first, batch
        self._bind_child, self._child_ends = bind_child, child_ends
        self._ends: Optional[list[StoredEvent]] = None  # children's ends stored for this instance, read once a run
        self._taken: set[tuple[str, str]] = set()  # (source, id) of the events history took
        self._scanned = 0
        self.observers = observers or Observers()
        self._outbox_url = outbox_url
        self._now, self._starts = now, starts
        self.write = write  # this run's commits (the engine collects whom they delivered to)
        self.fault: Optional[BaseException] = None
        self.successor: Optional[Instance] = None  # the new run a committed continue_as_new started

    def now(self) -> float:
        return self._now()

    def check_starts(self, event: EventInput) -> None:
        self._starts(event)

    def outbox_url(self) -> Optional[str]:
        return self._outbox_url

    def bind_child(self, workflow: str, child_id: Optional[str], args: tuple, kwargs: dict,
                   queue: Optional[str] = None) -> tuple[list[Any], dict[str, Any], Optional[str]]:
        return self._bind_child(workflow, child_id, args, kwargs, queue)  # type: ignore[misc]

    def child_ended(self, history: list[Step], match: Optional[dict[str, Any]]) -> Optional[StoredEvent]:
        if self._ends is None:
            self._ends = self._child_ends() if self._child_ends is not None else []
        for step in history[self._scanned:]:
            if step.kind == "event" and "id" in step.result:
                self._taken.add((step.result["source"], step.result["id"]))
        self._scanned = len(history)
        for event in self._ends:
            if (event.source, event.id) not in self._taken and (
                    match is None or (event.data or {}).get("child_id") == match.get("child_id")):
                self._ends.remove(event)
                return event
        return None

    def activity_started(self, ctx: WorkflowContext, name: str, attempt: int) -> Any:
        self.observers.emit("on_activity_start", instance_id=ctx.instance_id, workflow=ctx.workflow_name,
                            activity=name, attempt=attempt)
        span: Optional[contextlib.ExitStack] = None
        annotate = None
        if self.observers.tracer is not None:  # a child of the run's span, open while the activity runs
            span = contextlib.ExitStack()
            annotate = span.enter_context(self.observers.span("romancy.activity", {}, {
                "romancy.activity": name, "romancy.attempt": attempt, "romancy.instance_id": ctx.instance_id}))
        return time.perf_counter(), span, annotate

    def activity_ended(self, ctx: WorkflowContext, name: str, attempt: int, started: Any,
                       error: Optional[BaseException]) -> None:
        began, span, annotate = started
        failure = None if error is None else {"type": type(error).__name__, "message": str(error)}
        if span is not None:
            if failure is not None:
                annotate({"romancy.error": f"{failure['type']}: {failure['message']}"})
            span.close()
        if self.observers.wants("on_activity_end"):
            self.observers.emit("on_activity_end", instance_id=ctx.instance_id, workflow=ctx.workflow_name,
                                activity=name, attempt=attempt, duration=time.perf_counter() - began,
                                error=failure)

    def trace_headers(self) -> dict[str, str]:
        return self.observers.headers()

    def failed_attempts(self, seq: int) -> int:
        wait = self.instance.wait
        return wait.attempt if wait and wait.kind == "retry" and wait.seq == seq else 0

    def before_side_effect(self, ctx: WorkflowContext) -> None:
        # Commit what this run recorded first (results, now(), uuid4()), so a crash re-runs at most
        # this one activity, and with the same inputs. A replayed event is stored before the
        # activity too: a duplicate or a racing timeout then stops the run before its side effect.
        try:
            if ctx.new_steps or self.first.delivery is not None:
                create, delivery = self.first.take()
                self.write(Commit(self.instance.instance_id, list(ctx.new_steps), _while_running(ctx), create,
                                  delivery))
                ctx.new_steps.clear()
            else:
                self.first.start_grace()
        except BaseException as exc:
            self.fault = exc
            raise

    def raise_fault(self) -> None:
        """Re-raise a commit's fault that the workflow's own code swallowed (a bare `except:`)."""
        if self.fault is not None:
            raise self.fault
