"""What the engine needs from storage and time."""

from __future__ import annotations

from typing import Callable, Optional, Protocol, Sequence

from ..records import Delivery, EventInput, Instance, PendingDelivery, Step, StoredEvent, Transition

Accepts = Callable[[Instance, StoredEvent], bool]
Outcome = tuple[str, list[Step], Transition]  # a run at rest: its instance, new steps and transition


class LeaseLost(BaseException):
    """A commit found the instance no longer leased to this worker (cancelled or recovered).

    BaseException: it may surface inside user code (a flush before an activity) and must not be caught there."""


class DeliveryConflict(BaseException):
    """A run's first commit could not store its pending event: a duplicate, or the wait was
    satisfied another way. Nothing was written; deliver the event the ordinary way."""


class InstanceExists(BaseException):
    """A new instance's first commit found its id taken (a concurrent start of the same id)."""


class Clock(Protocol):
    def now(self) -> float: ...


class Store(Protocol):
    def create_instance(self, instance: Instance) -> tuple[Instance, bool]:
        """Insert `instance` (leased as given) unless its id exists; returns (stored, created)."""

    def start_floor(self) -> int:
        """The newest stored event's seq; every event stored afterwards has a larger one."""

    def claim(
        self, instance_id: str, owner: str, now: float, lease_until: float,
        include_parked: bool = False, steal_from: Optional[str] = None,
    ) -> Optional[tuple[Instance, list[Step]]]:
        """Lease a runnable instance to `owner`; None when someone else holds it or it is not runnable."""

    def commit(
        self, instance_id: str, owner: str, steps: list[Step], transition: Transition, now: float,
        lease_until: float, accepts: Optional[Callable[[StoredEvent], bool]] = None,
        exclude: frozenset[tuple[str, str]] = frozenset(), event_floor: Optional[int] = None,
        delivery: Optional[PendingDelivery] = None, create: Optional[Instance] = None,
    ) -> Optional[StoredEvent]:
        """Record steps and the status change in one transaction; raise LeaseLost if not ours.

        For an event wait, the earliest stored event it accepts (received after `event_floor`, not
        in `exclude`) satisfies it in the same transaction and is returned; the instance then stays
        running and leased, and the caller replays with it. With `delivery`, the event is stored and
        the instance's wait (still waiting) satisfied in the same transaction, or DeliveryConflict.
        With `create`, the instance is inserted first (its start floor read then), or InstanceExists."""

    def add_event(
        self, event: EventInput, now: float, owner: Optional[str], lease_until: float, accepts: Accepts,
        settled: Sequence[Outcome] = (),
    ) -> Delivery:
        """Store the event and satisfy every waiting instance it matches, in one transaction; with
        an `owner`, also record `settled` as commit_many does (those it no longer held: `lost`)."""

    def waiting_candidates(self, event: EventInput) -> list[Instance]:
        """Instances waiting for `event`'s type that it may satisfy, read without locking."""

    def commit_many(self, owner: str, outcomes: Sequence[Outcome], now: float, lease_until: float) -> list[str]:
        """Record several runs' outcomes (steps and a transition each, no late-event check) in one
        transaction; returns the instances not written because `owner` no longer held them."""

    def get_many(self, instance_ids: list[str]) -> list[tuple[Instance, list[Step]]]:
        """The instances that exist, in the order given, each with its history: for a batch, in
        two reads rather than two per instance."""

    def fire_due(self, now: float, owner: str, lease_until: float, limit: int) -> list[str]:
        """Fire due timers, event timeouts and retry timers; the fired instances are leased to owner."""

    def renew_lease(self, instance_id: str, owner: str, lease_until: float) -> bool:
        """Extend `owner`'s lease of a running instance; False when it is no longer theirs."""

    def runnable(self, limit: int, include_parked: bool) -> list[Instance]:
        """Instances in status running (leased or not), oldest first."""

    def next_wake(self) -> Optional[float]: ...

    def cancel(self, instance_id: str, reason: str, now: float) -> Instance: ...

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
