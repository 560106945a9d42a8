"""Plain records passed between layers; no behaviour, no storage types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

RUNNING = "running"
COMPENSATING = "compensating"  # running the undo activities of a failed or cancelled run
WAITING_FOR_EVENT = "waiting_for_event"
WAITING_FOR_TIMER = "waiting_for_timer"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
CONTINUED_AS_NEW = "continued_as_new"  # ended by continue_as_new: its successor runs on
QUEUED = "queued"  # waiting for a slot of its queue (schema 9): not started yet

STATUSES = (QUEUED, RUNNING, COMPENSATING, WAITING_FOR_EVENT, WAITING_FOR_TIMER, COMPLETED, FAILED, CANCELLED,
            CONTINUED_AS_NEW)
RUNNABLE = (RUNNING, COMPENSATING)  # statuses a worker runs (claims, leases, recovers)
# The ended statuses, defined here only: every other status is live (prune keeps the instance and
# the events it may still take), so a status added later is live unless it is listed here.
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, CONTINUED_AS_NEW})
# What users see for a running instance stopped by a NonDeterminismError (stored: running + parked).
PARKED = "parked"
SHOWN_STATUSES = STATUSES + (PARKED,)


@dataclass(frozen=True)
class EventInput:
    """A CloudEvent as accepted from a sender, before it is stored."""

    type: str
    source: str
    id: str
    data: Any = None
    subject: Optional[str] = None
    time: Optional[str] = None
    data_content_type: Optional[str] = None
    data_schema: Optional[str] = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> Optional[str]:
        """The instance this event is addressed to (Romancy's point-to-point extension)."""
        value = self.extensions.get("romancyinstanceid")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class Wait:
    """What a suspended instance waits for. `seq` is the step position the wait will fill."""

    kind: str  # "event" | "timer" | "retry"
    seq: int
    event_type: Optional[str] = None
    match: Optional[dict[str, Any]] = None
    wake_at: Optional[float] = None  # timer due, event timeout, or retry due (epoch seconds)
    attempt: int = 0  # retry: attempts already failed for the activity at `seq`
    more_types: tuple[str, ...] = ()  # an event wait for any of several types: those after the first
    competing: bool = False  # an untargeted event goes to one competing waiter only (schema 9)

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every type an event wait accepts, the first one first."""
        return (self.event_type or "",) + self.more_types

    @property
    def step_name(self) -> str:
        """The name its step records: the type, or the types joined by `|` (replay compares it)."""
        return "|".join(self.event_types)


@dataclass(frozen=True)
class Step:
    """One recorded durable call. `result` is plain JSON."""

    seq: int
    kind: str  # "activity" | "event" | "timer" | "now" | "uuid4" | "patch" | "ended" | "attempt" ...
    name: str
    result: Any


ATTEMPT = "attempt"  # the kind of the step that keeps a failed attempt of a retried activity
RETRIED = "retried"  # the kind of the step that keeps a failed run `retry` ran again (at a negative seq)
UNPLACED = -1  # the seq of a step kept beside history (seq < 0): the store places it below the lowest


def attempt_step(step: int, name: str, attempt: int, error: dict[str, Any], failed_at: float) -> Step:
    """Attempt `attempt` of the activity at `step` failed with `error`: kept, never replayed."""
    return Step(UNPLACED, ATTEMPT, name, {"step": step, "attempt": attempt, "error": error, "failed_at": failed_at})


SEND = "send"  # the kind of a step that published an event (engine/publishing.py)


def published_events(steps: list[Step]) -> list[EventInput]:
    """The events that steps of kind SEND published: the store writes them with those steps."""
    return [EventInput(s.result["type"], s.result["source"], s.result["id"], s.result.get("data"),
                       s.result.get("subject"), data_content_type="application/json",
                       extensions=dict(s.result.get("extensions") or {}))
            for s in steps if s.kind == SEND]


def relay_targets(steps: list[Step]) -> dict[tuple[str, str], str]:
    """The URL each event these steps published is relayed to (send_event's `to` or `[outbox]
    url`, recorded in the step), by the event's (source, id); events without one are not relayed."""
    return {(s.result["source"], s.result["id"]): s.result["to"]
            for s in steps if s.kind == SEND and s.result.get("to")}


CHILD = "child"  # the kind of a step that started a child workflow (engine/children.py)
CHILD_ENDED = "romancy.child.completed"  # the type of the event that tells a parent its child ended
ABANDON, CLOSE = "abandon", "cancel"  # parent_close: a child outlives its parent's end, or not


def child_started(steps: list[Step]) -> list[Step]:
    """The steps of kind CHILD among `steps`: the store inserts their children with them."""
    return [s for s in steps if s.kind == CHILD]


def child_ended(instance: "Instance", status: str, output: Any = None,
                error: Optional[dict[str, Any]] = None) -> Optional[EventInput]:
    """The event that tells `instance`'s parent it ended (None for an instance without one):
    addressed to the parent, unique per run, so ending twice (a retry) tells it once."""
    if instance.parent_id is None:
        return None
    shown = {k: v for k, v in (error or {}).items() if k in ("type", "message", "where")} or None
    data = {"child_id": instance.chain_id or instance.instance_id, "instance_id": instance.instance_id,
            "workflow": instance.workflow, "status": status, "output": output, "error": shown}
    return EventInput(CHILD_ENDED, "romancy/children", instance.instance_id, data,
                      data_content_type="application/json", extensions={"romancyinstanceid": instance.parent_id})


@dataclass(frozen=True)
class QueueSpec:
    """A queue's limits: at most `concurrency` of its instances between their start and their
    end, and at most `rate[0]` starts in any `rate[1]` seconds; None: no such limit."""

    name: str
    concurrency: Optional[int] = None
    rate: Optional[tuple[int, float]] = None
    rate_text: Optional[str] = None  # as declared ("50/1m")


@dataclass(frozen=True)
class QueueState:
    """What a queue holds now: `romancy queues`, GET /queues."""

    spec: QueueSpec
    queued: int
    running: int
    oldest_queued_at: Optional[float]


# The states of an event in the outbox: waiting to be relayed (or retried), delivered, given up.
PENDING, SENT = "pending", "sent"
OUTBOX_STATUSES = (PENDING, SENT, FAILED)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    workflow: str
    status: str
    args: list[Any]
    kwargs: dict[str, Any]
    created_at: float
    updated_at: float
    output: Any = None
    error: Optional[dict[str, Any]] = None
    wait: Optional[Wait] = None
    event_floor: int = 0  # events with a larger seq arrived after this instance started
    parked: bool = False
    lease_owner: Optional[str] = None
    lease_until: Optional[float] = None
    continued_from: Optional[str] = None  # the run that continued as this one (continue_as_new)
    continued_as: Optional[str] = None  # the run this one continued as
    parent_id: Optional[str] = None  # the workflow that started this one as its child (schema 9)
    parent_close: Optional[str] = None  # a child's: "cancel" (by its parent's end) or "abandon"
    chain_id: Optional[str] = None  # a child's id as its parent knows it (the first run of a chain)
    queue: Optional[str] = None  # the queue whose slot it holds from its start to its end (schema 9)
    started_at: Optional[float] = None  # when a queued instance got its slot (a queue's rate counts these)
    trace: Optional[str] = None  # schema 12: its W3C traceparent, when traced (every run's span is under it)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    type: str
    source: str
    id: str
    received_at: float
    data: Any = None
    subject: Optional[str] = None
    time: Optional[str] = None
    data_content_type: Optional[str] = None
    data_schema: Optional[str] = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> Optional[str]:
        value = self.extensions.get("romancyinstanceid")
        return str(value) if value is not None else None

    def to_plain(self) -> dict[str, Any]:
        """The form recorded in history as the result of the wait it satisfied."""
        return {
            "seq": self.seq, "type": self.type, "source": self.source, "id": self.id,
            "time": self.time, "subject": self.subject, "data": self.data,
            "datacontenttype": self.data_content_type, "dataschema": self.data_schema,
            "extensions": self.extensions, "received_at": self.received_at,
        }


@dataclass(frozen=True)
class LoggedEvent:
    """A stored event and the instances whose waits it satisfied (none: unconsumed)."""

    event: StoredEvent
    consumed_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneResult:
    """What prune removed (or, dry, would remove), and its longest write transaction in seconds."""

    instances: int = 0
    steps: int = 0
    events: int = 0
    transactions: int = 0
    longest_transaction: float = 0.0


@dataclass(frozen=True)
class Transition:
    """How a commit changes an instance, together with the steps it records."""

    status: str
    wait: Optional[Wait] = None
    output: Any = None
    error: Optional[dict[str, Any]] = None
    parked: bool = False
    keep_lease: bool = False


@dataclass(frozen=True)
class Delivery:
    """Result of storing one event: its seq, whether it was a duplicate, who it satisfied."""

    event_id: str
    seq: Optional[int]  # None when stored by a run's commit (engine.deliver_and_run)
    duplicate: bool
    delivered: tuple[str, ...] = ()
    leased: tuple["Instance", ...] = ()  # the delivered and started instances as leased to the storing worker
    started: tuple[str, ...] = ()  # instances the event started (start_on), running


@dataclass(frozen=True)
class PendingDelivery:
    """An event a run already replayed into the wait at `wait_seq`; the run's first commit stores
    the event and satisfies the wait together with what the run recorded after it. When the event
    also satisfies another waiting instance, the commit is refused and the event takes the
    ordinary path, which delivers to every instance it satisfies."""

    event: EventInput
    wait_seq: int
    step_name: str  # of the wait the event fills (Wait.step_name)


@dataclass(frozen=True)
class Commit:
    """What one write transaction records for a run: its new steps and status change and, while
    the run has not been written yet, first the new instance (`create`) or the event it replayed
    (`delivery`). For an event wait, an event already stored after `event_floor` and not among
    `consumed` satisfies the wait in the same transaction (the store reports it)."""

    instance_id: str
    steps: list[Step]
    transition: Transition
    create: Optional[Instance] = None
    delivery: Optional[PendingDelivery] = None
    event_floor: int = 0
    consumed: frozenset[tuple[str, str]] = frozenset()
    # The instances each event its steps publish starts (start_on), by the event's (source, id).
    starts: dict[tuple[str, str], list["Instance"]] = field(default_factory=dict)
    # continue_as_new: the run that follows this one, inserted in the same transaction as this
    # run's end; the store raises its event_floor past the events this run consumed.
    successor: Optional[Instance] = None
    # Children its CHILD steps start (engine/children.py), inserted unless their id exists.
    children: list["Instance"] = field(default_factory=list)
    # Events it publishes besides its steps': a child's end, addressed to its parent.
    events: tuple[EventInput, ...] = ()
    # The queue whose slot this commit frees (the run ended): its oldest queued instances start.
    release: Optional[QueueSpec] = None
    # The queues of the children it starts, by name: a child whose queue is full is queued.
    queues: dict[str, QueueSpec] = field(default_factory=dict)

    @property
    def waits_for_event(self) -> bool:
        wait = self.transition.wait
        return wait is not None and wait.kind == "event"


@dataclass(frozen=True)
class Misfit:
    """An instance whose recorded history the current code no longer replays (`replay --check`):
    at `step` history holds `recorded` (kind, name) and the code calls `called` instead, or
    returns there (None). `step` is None when the workflow is not registered at all."""

    instance: Instance
    step: Optional[int]
    recorded: Optional[tuple[str, Optional[str]]]
    called: Optional[tuple[str, str]]
    message: str


@dataclass(frozen=True)
class OutboxItem:
    """An event a workflow published, with where the relay sends it and how that went."""

    event: StoredEvent
    target: str
    status: str  # PENDING, SENT or FAILED
    attempts: int
    last_error: Optional[str] = None  # "HTTP 503", "connection refused", ...
    next_attempt_at: Optional[float] = None  # of a pending one


@dataclass(frozen=True)
class Attempt:
    """The outcome of one relay attempt: SENT, FAILED, or PENDING again at `next_attempt_at`."""

    status: str
    error: Optional[str] = None
    next_attempt_at: Optional[float] = None


# What became of a schedule's slot (romancy_schedule_runs.outcome).
STARTED, SKIPPED, BUFFERED, MISSED = "started", "skipped", "buffered", "missed"


@dataclass(frozen=True)
class Schedule:
    """A schedule (schema 9): its settings and where its firing stands. `spec` is the plain
    form of schedule_spec.ScheduleSpec; times are epoch seconds. `next_slot` is the nominal time
    of the first slot not handled yet, `due_at` that slot plus its jitter; `buffered` the slot
    buffer_one keeps until the previous run ends; `version` counts changes (compare-and-set)."""

    schedule_id: str
    workflow: str
    spec: dict[str, Any]
    timezone: str = "UTC"
    input: dict[str, Any] = field(default_factory=dict)
    overlap: str = "skip"
    catchup_window: float = 60.0
    jitter: float = 0.0
    paused: bool = False
    note: Optional[str] = None
    source: str = "cli"  # "code": declared by @workflow(schedule=...); "cli": created by command
    next_slot: Optional[float] = None
    due_at: Optional[float] = None
    buffered: Optional[float] = None
    last_instance: Optional[str] = None
    last_fired_at: Optional[float] = None
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 0


@dataclass(frozen=True)
class ScheduleRun:
    """One handled slot: started (its instance), skipped, buffered or missed. `status` is the
    instance's status when read back for display, else the outcome."""

    slot: float
    outcome: str
    instance_id: Optional[str] = None
    status: Optional[str] = None


@dataclass(frozen=True)
class ScheduleAdvance:
    """One step of a schedule's firing, written in one transaction if the schedule is still at
    `version`: the slots handled, the instance started (if any), and the schedule's new state."""

    schedule_id: str
    version: int
    next_slot: Optional[float]
    due_at: Optional[float]
    buffered: Optional[float]
    runs: tuple[ScheduleRun, ...] = ()
    start: Optional[Instance] = None
    fired_at: Optional[float] = None
