"""What the engine needs from storage and time."""

from __future__ import annotations

from typing import Callable, Optional, Protocol, Sequence

from ..records import (Attempt, Commit, Delivery, EventInput, Instance, LoggedEvent, OutboxItem, PruneResult,
                       QueueSpec, QueueState, Schedule, ScheduleAdvance, ScheduleRun, Step, StoredEvent, Wait)


class LeaseLost(BaseException):
    """A commit found the instance no longer leased to this worker (cancelled or recovered).

    BaseException: it may surface inside user code (the commit before an activity) and must not be
    caught there. Faults of the database itself are errors.StorageFault, likewise a BaseException."""


class DeliveryConflict(BaseException):
    """A run's first commit could not store its pending event: a duplicate, or the wait was
    satisfied another way. Nothing was written; deliver the event the ordinary way."""


class InstanceExists(BaseException):
    """A new instance's first commit found its id taken (a concurrent start of the same id)."""


class Clock(Protocol):
    def now(self) -> float: ...


class Store(Protocol):
    def start_floor(self) -> int:
        """The newest stored event's seq; every event stored afterwards has a larger one."""

    def claim(
        self, instance_id: str, owner: str, now: float, lease_until: float,
        include_parked: bool = False, steal_from: Optional[str] = None,
    ) -> Optional[tuple[Instance, list[Step]]]:
        """Lease a runnable instance to `owner`; None when someone else holds it or it is not runnable."""

    def commit(self, commit: Commit, owner: str, now: float, lease_until: float,
               delivered: Optional[list[str]] = None) -> Optional[StoredEvent]:
        """Write `commit` in one transaction; raise LeaseLost if the instance is not `owner`'s.

        Its children (Commit.children) are inserted, or attached to when their id exists, and
        its events (Commit.events) published, in that transaction, leased as those below.

        Events its steps published (records.published_events) are stored in that transaction and
        satisfy the waits they match, as add_event does: with `delivered`, those instances are
        leased to `owner` and their ids appended to it, for the caller to resume; without, they
        are left for any worker.

        An event wait that an already stored event satisfies (see Commit) is satisfied at once: the
        event is returned, the instance stays running and leased, and the caller replays with it.
        A `delivery` is refused with DeliveryConflict (nothing written) when the event is a
        duplicate, satisfies other instances too, or the wait was satisfied another way; a
        `create` with InstanceExists when the id is taken."""

    def add_event(self, event: EventInput, now: float, owner: Optional[str], lease_until: float,
                  starts: Sequence[Instance] = (), receiver: Optional[Instance] = None) -> Delivery:
        """Store the event, satisfy every waiting instance it matches and insert the new instances
        of `starts` (start_on) unless their id exists, in one transaction; nothing of them when the
        event is a duplicate. `receiver` (deliver-or-start) is the event's target, inserted unless
        it exists, with the event counted as received after its start. Those instances are leased
        to `owner`, or left for any worker when it is None."""

    def waiting_candidates(self, event: EventInput) -> tuple[list[Instance], bool]:
        """Instances waiting for `event`'s type that it may satisfy, and, when there are any,
        whether an event with its (source, id) was accepted before; read without locking."""

    def commit_many(self, commits: Sequence[Commit], owner: str, now: float, lease_until: float,
                    delivered: Optional[list[str]] = None) -> list[str]:
        """Write several runs at rest (no event waits, nothing first) in one transaction; returns
        the instances not written because `owner` no longer held them. Published events as in
        commit."""

    def get_many(self, instance_ids: list[str]) -> list[tuple[Instance, list[Step]]]:
        """The instances that exist, in the order given, each with its history: for a batch, in
        two reads rather than two per instance."""

    def fire_due(self, now: float, owner: str, lease_until: float, limit: int,
                 waits: Optional[dict[str, Wait]] = None) -> list[str]:
        """Fire due timers, event timeouts and retry timers; the fired instances are leased to owner.
        `waits`, when given, receives each fired instance's wait as it was (its due time)."""

    def renew_lease(self, instance_id: str, owner: str, lease_until: float) -> bool:
        """Extend `owner`'s lease of a running instance; False when it is no longer theirs."""

    def runnable(self, limit: int, include_parked: bool) -> list[Instance]:
        """Instances in status running or compensating (leased or not), oldest first."""

    def next_wake(self) -> Optional[float]:
        """The earliest timer, timeout or retry, or slot of an active schedule."""

    def check_writable(self) -> None:
        """Raise errors.StorageFault while the database cannot take writes."""

    def cancel(self, instance_id: str, reason: str, now: float, compensate: bool = False) -> Instance:
        """End a non-terminal instance as cancelled; with `compensate`, leave it `compensating`,
        leased to nobody, with the Cancelled error, for a worker's run to undo its activities."""

    def addressed_events(self, instance_id: str, event_type: str, floor: int) -> list[StoredEvent]:
        """Events of a type addressed to this instance with a seq above `floor`, oldest first."""

    def admit(self, instance: Instance, spec: QueueSpec, now: float, owner: str, lease_until: float) -> Instance:
        """Insert a new instance of a queue: running and leased to `owner` when a slot is free,
        else `queued`; InstanceExists when its id is taken."""

    def promote(self, spec: QueueSpec, now: float, owner: Optional[str], lease_until: float) -> list[str]:
        """Start, leased to `owner`, the oldest queued instances of the queue that fit now."""

    def queue_states(self, specs: Sequence[QueueSpec]) -> list[QueueState]:
        """Each queue with how many instances it has queued and running, and the oldest queued."""

    def children(self, instance_id: str) -> list[Instance]:
        """The instances this one started as its children (and the runs they continued as), oldest first."""

    def get(self, instance_id: str) -> Optional[Instance]: ...

    def history(self, instance_id: str) -> list[Step]:
        """The steps replay reads."""

    def shown_history(self, instance_id: str) -> list[Step]:
        """history() with the attempts kept beside it (kind "attempt": failed attempts of retried
        activities; kind "retried": attempts `retry` re-ran) just before their step, oldest first.
        A commit's steps at negative seqs are such attempts: the store places them below the lowest."""

    def list_instances(
        self, status: Optional[str], workflow: Optional[str], limit: Optional[int],
        after: Optional[tuple[float, str]] = None, search: Optional[str] = None,
    ) -> list[Instance]:
        """Newest first by (created_at, instance_id); `after` continues after that pair; status
        may be "parked"; `search` is an id prefix or text in the input."""

    def count_instances(self, workflow: Optional[str]) -> dict[str, int]:
        """Instances per status, parked ones under "parked"."""

    def count_by_workflow(self) -> dict[tuple[str, str], int]:
        """Instances per (workflow, status), parked ones under "parked" (for metrics)."""

    def count_outbox_pending(self) -> int:
        """Outbox entries still to be relayed."""

    def list_events(self, event_type: Optional[str], since: Optional[float], unconsumed: bool,
                    limit: Optional[int], before: Optional[int] = None) -> list[LoggedEvent]:
        """Stored events, newest first (seq below `before`), each with the instances that consumed it."""

    def events_after(self, event_type: str, floor: int, limit: int) -> list[LoggedEvent]:
        """The newest `limit` events of a type with a seq above `floor`, with their consumers."""

    def waiting_for_type(self, event_type: str, limit: int) -> list[Instance]:
        """Instances waiting for an event of this type, oldest first."""

    def clock_offset(self) -> float:
        """Seconds the database's virtual clock is ahead of the real one (`tick --advance`)."""

    def move_clock(self, by: float) -> float:
        """Add `by` seconds to the virtual clock's offset, in one transaction; the new offset."""

    def ids_starting_with(self, prefixes: Sequence[str], limit: int) -> list[str]:
        """Instance ids that start with any of `prefixes`, sorted, at most `limit`."""

    def waited_types(self, limit: int) -> list[str]:
        """Event types that waiting instances wait for (at most `limit`, sorted)."""

    def reopen(self, instance_id: str, failed_seq: Optional[int], now: float) -> None:
        """A failed instance becomes running, unleased, in one transaction; the step at
        `failed_seq` (or the instance's error) is kept as a retried attempt replay does not read.
        NotFoundError for an unknown id, RomancyError when it is not failed."""

    def prune(self, ended_before: Optional[float], events_before: Optional[float], dry_run: bool,
              progress: Optional[Callable[[int], None]] = None, batch: int = 500) -> PruneResult:
        """Delete ended instances and events no live instance may take, older than the cutoffs,
        in transactions of `batch` rows, telling `progress` the rows of each."""

    def next_outbox_due(self) -> Optional[float]:
        """When the earliest pending outbox entry may be attempted (its lease ended), if any."""

    def claim_outbox(self, owner: str, now: float, lease_until: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending outbox entries to `owner`; never one another worker holds."""

    def record_attempt(self, event_seq: int, owner: str, attempt: Attempt) -> bool:
        """Count one relay attempt and end `owner`'s lease; False when it was no longer `owner`'s."""

    def release_outbox(self, event_seqs: Sequence[int], owner: str) -> None:
        """End `owner`'s leases of entries it did not attempt."""

    def list_outbox(self, status: Optional[str], limit: Optional[int]) -> list[OutboxItem]:
        """Outbox entries oldest first, of one status or all."""

    def requeue_outbox(self, event_id: str, now: float) -> int:
        """Failed entries of events with this id become pending again; NotFoundError when none has
        that id, RomancyError when none of them is failed."""

    # -- schedules (schema 9) --

    def create_schedule(self, schedule: Schedule) -> bool:
        """Insert a schedule; False when its id exists."""

    def update_schedule(self, schedule: Schedule) -> bool:
        """Write its settings and firing state as given, a new version, if it is still at
        `schedule.version`; False otherwise (unknown or changed meanwhile)."""

    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule and its recorded slots; False when unknown."""

    def get_schedule(self, schedule_id: str) -> Optional[Schedule]: ...

    def list_schedules(self) -> list[Schedule]:
        """All schedules by id."""

    def due_schedules(self, now: float, limit: int) -> list[Schedule]:
        """Active schedules with a slot due at `now`, or a buffered slot."""

    def advance_schedule(self, step: ScheduleAdvance, now: float, owner: str, lease_until: float) -> bool:
        """Write one step of a schedule's firing if it is still at `step.version` (its slots, its
        new state and its instance, leased to `owner`, in one transaction); False otherwise."""

    def schedule_runs(self, schedule_id: str, limit: int) -> list[ScheduleRun]:
        """The newest handled slots, newest first, with their instances' statuses."""

    def listen(self) -> None:
        """Start noticing changes made by other connections (see wait_for_wake)."""

    def wait_for_wake(self, timeout: float) -> bool:
        """Block up to `timeout` s; True early when another connection made work or a new due time."""

    def close(self) -> None: ...
