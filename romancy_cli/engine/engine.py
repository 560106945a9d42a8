"""Start, resume, deliver, cancel and tick: the engine's operations over a Store."""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from .. import ids
from ..definitions import Registry
from ..errors import UsageError
from ..records import (FAILED, RUNNING, WAITING_FOR_EVENT, WAITING_FOR_TIMER, COMPLETED, Delivery,
                       EventInput, Instance, PendingDelivery, Step, StoredEvent, Transition)
from . import matching, replay
from .context import WorkflowContext
from .batch import OutcomeBatch
from .grace import after_grace, cancel as cancel_grace
from .heartbeat import kept_alive
from .ports import Clock, DeliveryConflict, InstanceExists, LeaseLost, Outcome, Store

FIRE_BATCH = 100  # timers fired per transaction: small, so that timers falling due meanwhile join soon
RECOVER_BATCH = 500  # runnable instances looked at per tick


@dataclass
class TickResult:
    fired: list[str] = field(default_factory=list)
    resumed: dict[str, str] = field(default_factory=dict)  # instance id -> status after
    next_wake: Optional[float] = None


class ShiftedClock:
    """Another clock moved by a fixed offset: `tick --advance` runs the engine in the future."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        return self.base.now() + self.offset


def owner_token(worker_id: str) -> str:
    """Lease owner: host and pid first, so a dead local owner can be recognised at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{worker_id}"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_ACTIVE: set[tuple[str, str]] = set()  # (owner, instance id) being run by a thread of this process
_ACTIVE_LOCK = threading.Lock()


@contextmanager
def _running_here(owner: str, instance_id: str) -> Iterator[bool]:
    """Yields False when another thread of this process already runs the instance as `owner`.

    Threads of one process share the owner token, so the lease alone cannot keep them apart: once
    a long run's lease expires, a tick in another thread would claim it as its own and run it too."""
    key = (owner, instance_id)
    with _ACTIVE_LOCK:
        mine = key not in _ACTIVE
        _ACTIVE.add(key)
    try:
        yield mine
    finally:
        if mine:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(key)


class _Hooks:
    """Answers a run's new steps from the store and commits before each side effect. Two waits: a
    new instance is stored with its first activity's result (see before_side_effect), and a run
    given a `batch` (fired by tick, resumed by serve) leaves its outcome at rest there, to be
    written with others."""

    def __init__(self, engine: "Engine", instance: Instance, delivery: Optional[PendingDelivery] = None,
                 create: bool = False, batch: Optional[OutcomeBatch] = None) -> None:
        self.engine, self.instance, self.batch = engine, instance, batch
        self._first: dict[str, Any] = {"delivery": delivery, "create": instance if create else None}
        self._first_lock = threading.Lock()  # the run's thread and the grace thread both write it
        self._first_error: Optional[BaseException] = None
        self._grace: Optional[int] = None

    def first_commit(self) -> dict[str, Any]:
        """What this run's next commit must also write: the new instance, or the event replayed
        (nothing once written). Raises what writing it in the grace thread raised."""
        with self._first_lock:
            return self._claim_first()

    def _claim_first(self) -> dict[str, Any]:
        self._end_grace()
        error, self._first_error = self._first_error, None
        if error is not None:
            raise error
        first, self._first = self._first, {}
        return first

    def now(self) -> float:
        return self.engine.clock.now()

    def before_side_effect(self, ctx: WorkflowContext) -> None:
        # Commit what this run recorded first (the instance itself, results, now(), uuid4()), so a
        # crash re-runs at most this one activity, and with the same inputs. A new instance with
        # nothing else recorded yet waits instead, to be stored with the activity's result in one
        # transaction, or by the grace thread once the activity has run for grace.GRACE.
        if ctx.new_steps:
            self._commit_running(list(ctx.new_steps), self.first_commit())
            ctx.new_steps.clear()
            return
        with self._first_lock:
            if self._first.get("create") is not None:
                if self._grace is None:
                    self._grace = after_grace(self.write_first)
            elif any(self._first.values()):  # an event: stored before the activity, so that a
                # duplicate or a racing timeout stops this run before its side effect, not after
                self._commit_running([], self._claim_first())

    def _commit_running(self, steps: list[Step], first: dict[str, Any]) -> None:
        self.engine._commit_steps(self.instance.instance_id, steps, Transition(RUNNING, keep_lease=True), **first)

    def write_first(self) -> None:
        """Write the new instance now, if still pending: from the grace thread, or when the run is
        interrupted during its first activity (Ctrl-C), so that it is recovered later."""
        with self._first_lock:
            self._end_grace()
            first, self._first = self._first, {}
            if not any(first.values()):
                return
            try:
                self._commit_running([], first)
            except BaseException as exc:  # noqa: BLE001 - the run raises it at its next commit
                self._first_error = exc

    def interrupted(self) -> None:
        if self._grace is not None:
            self.write_first()

    def _end_grace(self) -> None:
        if self._grace is not None:
            cancel_grace(self._grace)
            self._grace = None

    def failed_attempts(self, seq: int) -> int:
        wait = self.instance.wait
        return wait.attempt if wait and wait.kind == "retry" and wait.seq == seq else 0


def consumed(history: list[Step]) -> set[tuple[str, str]]:
    """(source, id) of the events this instance's earlier waits took (unique per event)."""
    return {(s.result["source"], s.result["id"]) for s in history if s.kind == "event" and "id" in s.result}


def _provisional(event: EventInput, instance: Instance, now: float) -> StoredEvent:
    """The event as its wait will record it; its seq is known once stored (nothing reads it in replay)."""
    return StoredEvent(instance.event_floor + 1, event.type, event.source, event.id, now, event.data,
                       event.subject, event.time, event.data_content_type, event.data_schema,
                       dict(event.extensions))


class Engine:
    def __init__(self, store: Store, registry: Registry, clock: Clock, worker_id: str,
                 lease_seconds: float = 30.0) -> None:
        self.store, self.registry, self.clock = store, registry, clock
        self.worker_id = worker_id
        self.owner = owner_token(worker_id)
        self.lease_seconds = lease_seconds
        # Leases are about live processes, so they stay on the unshifted clock: a tick run in the
        # future (`tick --advance`) fires timers early but must not treat live leases as expired.
        self.lease_clock = clock

    def shifted(self, now: float) -> "Engine":
        """This engine with its clock moved so that it reads `now` at this moment (leases excepted)."""
        clock = ShiftedClock(self.clock, now - self.clock.now())
        engine = Engine(self.store, self.registry, clock, self.worker_id, self.lease_seconds)
        engine.owner = self.owner
        engine.lease_clock = self.lease_clock
        return engine

    def _lease(self) -> tuple[float, float]:
        """(now for timers and records, lease expiry on the lease clock)."""
        return self.clock.now(), self.lease_clock.now() + self.lease_seconds

    # -- start -----------------------------------------------------------------

    def start(self, workflow: str, args: list[Any], kwargs: dict[str, Any],
              instance_id: Optional[str] = None) -> tuple[str, bool]:
        """Create and run an instance until it waits or ends; an existing id starts nothing.

        The instance is stored by the run's first commit: together with its first steps, or on its
        own just before its first activity (so that a killed start is recovered)."""
        definition = self.registry.workflow(workflow)
        args, kwargs = definition.bind(tuple(args), kwargs)  # raises before anything is stored
        iid = instance_id or ids.new_instance_id(workflow)
        if instance_id is not None and self.store.get(iid) is not None:
            return self._existing(iid, workflow)
        now, until = self._lease()
        # Events stored from here on count as received after the start, even before the instance
        # row is committed: none is lost to the start→wait race.
        instance = Instance(iid, workflow, RUNNING, args, kwargs, now, now, event_floor=self.store.start_floor(),
                            lease_owner=self.owner, lease_until=until)
        with _running_here(self.owner, iid):
            try:
                self._drive(instance, [], create=True)
            except InstanceExists:
                return self._existing(iid, workflow)
        return iid, True

    def _existing(self, instance_id: str, workflow: str) -> tuple[str, bool]:
        existing = self.store.get(instance_id)
        if existing is not None and existing.workflow != workflow:
            raise UsageError(f"instance {instance_id} already exists and runs workflow "
                             f"{existing.workflow!r}, not {workflow!r}; choose another --id")
        return instance_id, False

    # -- resume ----------------------------------------------------------------

    def resume(self, instance_id: str, include_parked: bool = False,
               steal_from: Optional[str] = None) -> Optional[str]:
        """Claim and run an instance; None when it is not runnable or another worker holds it."""
        with _running_here(self.owner, instance_id) as mine:
            if not mine:
                return None
            _, until = self._lease()
            claimed = self.store.claim(instance_id, self.owner, self.lease_clock.now(), until, include_parked,
                                       steal_from)
            if claimed is None:
                return None
            instance, history = claimed
            return self._drive(instance, history)

    def _run_fired_batch(self, fired: list[str], result: TickResult) -> None:
        """Run what one fire_due leased to this worker; their outcomes at rest commit together."""
        batch = OutcomeBatch(self.write_outcomes)
        try:
            for instance, history in self.store.get_many(fired):
                self._note(result, instance.instance_id, self.run_leased(instance, history, batch))
        finally:
            lost = batch.flush()
        for instance_id in lost:  # cancelled or taken over meanwhile: say what it is now
            current = self.store.get(instance_id)
            result.resumed[instance_id] = current.status if current else FAILED

    def run_leased(self, instance: Instance, history: Optional[list[Step]] = None,
                   batch: Optional[OutcomeBatch] = None) -> Optional[str]:
        """Run an instance that this worker has just leased (fire_due, a delivery) as it was then,
        without reading it back; its history is read unless given. Once that lease has run out
        (earlier runs took long), the instance is claimed again instead."""
        if instance.lease_owner != self.owner or (instance.lease_until or 0) < self.lease_clock.now():
            return self.resume(instance.instance_id)
        with _running_here(self.owner, instance.instance_id) as mine:
            if not mine:
                return None
            if history is None:
                history = self.store.history(instance.instance_id)
            return self._drive(instance, history, batch=batch)

    def write_outcomes(self, outcomes: list[Outcome]) -> list[str]:
        """Record runs' outcomes in one transaction; returns those whose lease was lost."""
        now, until = self._lease()
        return self.store.commit_many(self.owner, outcomes, now, until)

    def _drive(self, instance: Instance, history: list[Step], pending: Optional[PendingDelivery] = None,
               create: bool = False, batch: Optional[OutcomeBatch] = None) -> str:
        hooks = _Hooks(self, instance, pending, create, batch)
        with kept_alive(self.lease_seconds, lambda: self._renew(instance.instance_id)):
            try:
                return self._run_to_rest(instance, history, hooks)
            except (LeaseLost, DeliveryConflict, InstanceExists):
                raise
            except BaseException:  # interrupted (Ctrl-C, a crash) during its first activity: the
                hooks.interrupted()  # instance is stored, to be recovered, as when it came first
                raise

    def _renew(self, instance_id: str) -> None:
        self.store.renew_lease(instance_id, self.owner, self.lease_clock.now() + self.lease_seconds)

    def _run_to_rest(self, instance: Instance, history: list[Step], hooks: _Hooks) -> str:
        definition = self.registry.workflows.get(instance.workflow)
        if definition is None:
            return self._park(instance, f"workflow {instance.workflow!r} is not registered in this worker",
                              hooks.first_commit())
        while True:
            try:
                # LeaseLost may also come from the flush before an activity, inside the run.
                outcome, ctx = replay.run(definition, instance.instance_id, instance.args, instance.kwargs,
                                          history, hooks)
                event = self._commit_outcome(instance, outcome, ctx, hooks)
            except LeaseLost:
                current = self.store.get(instance.instance_id)
                return current.status if current else FAILED
            if event is None:
                return _status_of(outcome)
            # An event arrived while this run was suspending: replay again with it in history.
            wait = outcome.wait  # type: ignore[union-attr]
            history = sorted(ctx.history + [Step(wait.seq, "event", wait.event_type or "", event.to_plain())],
                             key=lambda step: step.seq)  # concurrent async activities record out of order

    def _commit_outcome(self, instance: Instance, outcome: replay.Outcome, ctx: WorkflowContext,
                        hooks: _Hooks) -> Optional[StoredEvent]:
        iid, first = instance.instance_id, hooks.first_commit()
        if isinstance(outcome, replay.Diverged):
            self._park(instance, outcome.message, first)
            return None
        if isinstance(outcome, replay.Suspended) and outcome.wait.kind == "event":
            wait = outcome.wait
            event_type, match = wait.event_type or "", wait.match
            return self._commit_steps(
                iid, outcome.steps, Transition(WAITING_FOR_EVENT, wait=wait),
                accepts=lambda event: matching.satisfies(event, iid, event_type, match),
                exclude=frozenset(consumed(ctx.history)),
                event_floor=instance.event_floor, **first,
            )
        transition = _transition_at_rest(outcome)
        if hooks.batch is not None and not any(first.values()):
            hooks.batch.add(iid, outcome.steps, transition)  # type: ignore[union-attr]
            return None
        return self._commit_steps(iid, outcome.steps, transition, **first)  # type: ignore[union-attr]

    def _commit_steps(self, instance_id: str, steps: list[Step], transition: Transition,
                      accepts: Any = None, exclude: frozenset[tuple[str, str]] = frozenset(),
                      event_floor: Optional[int] = None, delivery: Optional[PendingDelivery] = None,
                      create: Optional[Instance] = None) -> Optional[StoredEvent]:
        now, until = self._lease()
        return self.store.commit(instance_id, self.owner, steps, transition, now, until, accepts, exclude,
                                 event_floor, delivery, create)

    def _park(self, instance: Instance, message: str, first: Optional[dict[str, Any]] = None) -> str:
        error = {"type": "NonDeterminismError", "message": message}
        try:
            self._commit_steps(instance.instance_id, [], Transition(RUNNING, error=error, parked=True),
                               **(first or {}))
        except LeaseLost:
            pass
        return RUNNING

    # -- events, timers, cancel ------------------------------------------------

    def deliver_and_run(self, event: EventInput) -> Optional[tuple[Delivery, str]]:
        """An event that one waiting instance waits for: replay it with the event first, then
        store the event, satisfy the wait and record the run in one transaction (or, when the
        run reaches an activity, in the commit before it). None: use deliver()."""
        now = self.clock.now()
        candidates = [i for i in self.store.waiting_candidates(event)
                      if matching.accepts(i, _provisional(event, i, now))]
        if len(candidates) != 1:
            return None
        instance = candidates[0]
        received = _provisional(event, instance, now)
        with _running_here(self.owner, instance.instance_id) as mine:
            if not mine:
                return None
            history = self.store.history(instance.instance_id)
            history.append(Step(instance.wait.seq, "event", event.type, received.to_plain()))  # type: ignore[union-attr]
            try:
                pending = PendingDelivery(event, instance.wait.seq, matching.accepts)  # type: ignore[union-attr]
                status = self._drive(instance, history, pending)
            except DeliveryConflict:
                return None
        return Delivery(event.id, None, False, (instance.instance_id,)), status

    def deliver(self, event: EventInput, lease: bool = True, batch: Optional[OutcomeBatch] = None) -> Delivery:
        """Store an event and satisfy the waits it matches, in one transaction.

        With `lease`, the satisfied instances are leased to this worker, which should resume
        them next; without, any worker may pick them up. The outcomes pending in `batch` are
        written in the same transaction."""
        now, until = self._lease()
        owner = self.owner if lease else None
        if batch is None or owner is None:
            return self.store.add_event(event, now, owner, until, matching.accepts)
        return batch.carry(lambda settled: self.store.add_event(event, now, owner, until, matching.accepts, settled))

    def tick(self, retry_parked: bool = True) -> TickResult:
        """Fire what is due, then run runnable and recovered instances, and parked ones when
        `retry_parked` (a loop that ticks often asks for them only after the code changed)."""
        result = TickResult()
        while True:
            now, until = self._lease()
            fired = self.store.fire_due(now, self.owner, until, FIRE_BATCH)
            result.fired += fired
            self._run_fired_batch(fired, result)
            if len(fired) < FIRE_BATCH:
                break
        for instance in self.store.runnable(RECOVER_BATCH, include_parked=retry_parked):
            if instance.instance_id not in result.resumed and self.recoverable(instance):
                status = self.resume(instance.instance_id, retry_parked, instance.lease_owner)
                self._note(result, instance.instance_id, status)
        result.next_wake = self.store.next_wake()
        return result

    @staticmethod
    def _note(result: TickResult, instance_id: str, status: Optional[str]) -> None:
        if status is not None:
            result.resumed[instance_id] = status

    def recoverable(self, instance: Instance) -> bool:
        """Free, or its lease ran out, or its owner was a process here that has died."""
        owner = instance.lease_owner
        if owner is None:
            return True
        if instance.lease_until is not None and instance.lease_until < self.lease_clock.now():
            return True
        # Our own live lease means another thread of this process has it in hand.
        return owner != self.owner and owner_is_dead(owner)

    def cancel(self, instance_id: str, reason: str) -> Instance:
        return self.store.cancel(instance_id, reason, self.clock.now())


def _transition_at_rest(outcome: replay.Outcome) -> Transition:
    """Completed, failed, or sleeping on a timer or a retry."""
    if isinstance(outcome, replay.Completed):
        return Transition(COMPLETED, output=outcome.output)
    if isinstance(outcome, replay.Failed):
        return Transition(FAILED, error=outcome.error)
    return Transition(WAITING_FOR_TIMER, wait=outcome.wait)  # type: ignore[union-attr]


def _status_of(outcome: replay.Outcome) -> str:
    if isinstance(outcome, replay.Completed):
        return COMPLETED
    if isinstance(outcome, replay.Failed):
        return FAILED
    if isinstance(outcome, replay.Suspended):
        return WAITING_FOR_EVENT if outcome.wait.kind == "event" else WAITING_FOR_TIMER
    return RUNNING


__all__ = ["Engine", "TickResult", "owner_token", "owner_is_dead"]
