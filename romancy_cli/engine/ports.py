"""What the engine needs from storage and time."""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

from ..records import Commit, Delivery, EventInput, Instance, Step, StoredEvent


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

    def commit(self, commit: Commit, owner: str, now: float, lease_until: float) -> Optional[StoredEvent]:
        """Write `commit` in one transaction; raise LeaseLost if the instance is not `owner`'s.

        An event wait that an already stored event satisfies (see Commit) is satisfied at once: the
        event is returned, the instance stays running and leased, and the caller replays with it.
        A `delivery` is refused with DeliveryConflict (nothing written) when the event is a
        duplicate, satisfies other instances too, or the wait was satisfied another way; a
        `create` with InstanceExists when the id is taken."""

    def add_event(self, event: EventInput, now: float, owner: Optional[str], lease_until: float) -> Delivery:
        """Store the event and satisfy every waiting instance it matches, in one transaction; those
        are leased to `owner`, or left for any worker when it is None."""

    def waiting_candidates(self, event: EventInput) -> list[Instance]:
        """Instances waiting for `event`'s type that it may satisfy, read without locking."""

    def commit_many(self, commits: Sequence[Commit], owner: str, now: float, lease_until: float) -> list[str]:
        """Write several runs at rest (no event waits, nothing first) in one transaction; returns
        the instances not written because `owner` no longer held them."""

    def get_many(self, instance_ids: list[str]) -> list[tuple[Instance, list[Step]]]:
        """The instances that exist, in the order given, each with its history: for a batch, in
        two reads rather than two per instance."""

    def fire_due(self, now: float, owner: str, lease_until: float, limit: int) -> list[str]:
        """Fire due timers, event timeouts and retry timers; the fired instances are leased to owner."""

    def renew_lease(self, instance_id: str, owner: str, lease_until: float) -> bool:
        """Extend `owner`'s lease of a running instance; False when it is no longer theirs."""

    def runnable(self, limit: int, include_parked: bool) -> list[Instance]:
        """Instances in status running or compensating (leased or not), oldest first."""

    def next_wake(self) -> Optional[float]: ...

    def check_writable(self) -> None:
        """Raise errors.StorageFault while the database cannot take writes."""

    def cancel(self, instance_id: str, reason: str, now: float, compensate: bool = False) -> Instance:
        """End a non-terminal instance as cancelled; with `compensate`, leave it `compensating`,
        leased to nobody, with the Cancelled error, for a worker's run to undo its activities."""

    def get(self, instance_id: str) -> Optional[Instance]: ...

    def history(self, instance_id: str) -> list[Step]: ...

    def list_instances(
        self, status: Optional[str], workflow: Optional[str], limit: Optional[int]
    ) -> list[Instance]: ...

    def listen(self) -> None:
        """Start noticing changes made by other connections (see wait_for_wake)."""

    def wait_for_wake(self, timeout: float) -> bool:
        """Block up to `timeout` s; True early when another connection made work or a new due time."""

    def close(self) -> None: ...
