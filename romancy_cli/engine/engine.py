"""Start, resume, deliver, cancel and tick: the engine's operations over a Store."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Optional, Sequence

from .. import ids
from ..definitions import Registry
from ..errors import RomancyError, StorageFault, UsageError
from ..observe import Observers
from ..records import (ABANDON, CANCELLED, CHILD, CHILD_ENDED, COMPENSATING, QueueSpec, CONTINUED_AS_NEW, FAILED, PARKED, RUNNING, TERMINAL,
                       WAITING_FOR_EVENT, WAITING_FOR_TIMER, COMPLETED, Commit, Delivery, EventInput, Instance,
                       LoggedEvent, PendingDelivery, Schedule, Step, StoredEvent, Transition, Wait, child_ended,
                       child_started, published_events)
from . import matching, replay, schedules
from .context import WorkflowContext
from .deadlines import renewing
from .hooks import FiredBatch, FirstWrite, RunHooks
from .leases import owner_is_dead, owner_token, running_here
from .triggers import started_instances
from .ports import Clock, DeliveryConflict, InstanceExists, LeaseLost, Store

FIRE_BATCH = 100  # timers fired per transaction: small, so that timers falling due meanwhile join soon
RECOVER_BATCH = 500  # runnable instances looked at per tick
NEAR_MISSES = 20  # events, or waiting instances, explained at most: an answer, not a report

log = logging.getLogger("romancy.engine")


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
                 lease_seconds: float = 30.0, outbox_url: Optional[str] = None,
                 queues: Sequence[QueueSpec] = (), live_since: Optional[float] = None,
                 observers: Optional[Observers] = None, lease_clock: Optional[Clock] = None) -> None:
        self.store, self.registry, self.clock = store, registry, clock
        # Queues declared in code, and in romancy.toml (which wins for a name declared in both).
        self.queues = {**registry.queues, **{spec.name: spec for spec in queues}}
        self.observers = observers or Observers()  # the App's hooks: told of what really happens
        self.outbox_url = outbox_url  # the relay target of events published without `to`
        self.worker_id = worker_id
        self.owner = owner_token(worker_id)
        self.lease_seconds = lease_seconds
        # Leases are about live processes, so they stay on the unshifted clock: a tick run in the
        # future (`tick --advance`) fires timers early but must not treat live leases as expired.
        self.lease_clock = lease_clock or clock
        # This process looks for due slots from `live_since` (its App's opening) on.
        self.schedule_pass = schedules.Pass(clock.now() if live_since is None else live_since)
        self._woken = threading.local()  # instances to run once this thread's operation lets go of its own

    def shifted(self, now: float) -> "Engine":
        """This engine with its clock moved so that it reads `now` at this moment (leases excepted)."""
        clock = ShiftedClock(self.clock, now - self.clock.now())
        engine = Engine(self.store, self.registry, clock, self.worker_id, self.lease_seconds, self.outbox_url,
                        tuple(self.queues.values()), observers=self.observers)
        engine.owner = self.owner
        engine.lease_clock = self.lease_clock
        engine.schedule_pass = self.schedule_pass
        return engine

    @contextlib.contextmanager
    def _worklist(self) -> Iterator[None]:
        """The outermost operation of this thread runs, once it has let go of its own instance,
        the instances its runs woke (a child's end wakes its parent while the child still holds
        itself): in a loop, not by recursion, so a parent of 1,000 children needs no deep stack."""
        if getattr(self._woken, "queue", None) is not None:
            yield
            return
        queue: list[str] = []
        self._woken.queue = queue
        try:
            yield
            while queue:
                self.resume(queue.pop(0))
        finally:
            self._woken.queue = None

    def _lease(self) -> tuple[float, float]:
        """(now for timers and records, lease expiry on the lease clock)."""
        return self.clock.now(), self.lease_clock.now() + self.lease_seconds

    # -- start -----------------------------------------------------------------

    def start(self, workflow: str, args: list[Any], kwargs: dict[str, Any],
              instance_id: Optional[str] = None, queue: Optional[str] = None) -> tuple[str, bool]:
        """Create and run an instance until it waits or ends; an existing id starts nothing.

        The instance is stored by the run's first commit: together with its first steps, or on its
        own just before its first activity (so that a killed start is recovered)."""
        definition = self.registry.workflow(workflow)
        args, kwargs = definition.bind(tuple(args), kwargs)  # raises before anything is stored
        spec = self.queue(queue or definition.queue)
        iid = instance_id or ids.new_instance_id(workflow)
        if instance_id is not None and self.store.get(iid) is not None:
            return self._existing(iid, workflow)
        if instance_id:  # a new id the user chose: one every route and terminal can show
            ids.check_instance_id(iid)
        now, until = self._lease()
        # Events stored from here on count as received after the start, even before the instance
        # row is committed: none is lost to the start→wait race.
        instance = Instance(iid, workflow, RUNNING, args, kwargs, now, now, event_floor=self.store.start_floor(),
                            lease_owner=self.owner, lease_until=until, trace=self.observers.new_trace(iid, workflow))
        if spec is not None:
            return self._start_queued(instance, spec)
        with self._worklist(), running_here(self.owner, iid):
            try:
                self._drive(instance, [], create=True)
            except InstanceExists:
                return self._existing(iid, workflow)
        return iid, True

    def queue(self, name: Optional[str]) -> Optional[QueueSpec]:
        """The declared queue of that name (None for None); UsageError naming the declared ones."""
        if name is None:
            return None
        spec = self.queues.get(name)
        if spec is None:
            known = ", ".join(sorted(self.queues)) or "none declared"
            raise UsageError(f"unknown queue {name!r} (declared: {known}); declare it with "
                             f"[queues.{name}] in romancy.toml or Queue({name!r}, concurrency=...)")
        return spec

    def _start_queued(self, instance: Instance, spec: QueueSpec) -> tuple[str, bool]:
        """Admit a new instance to its queue before it runs: it starts now when a slot is free,
        else it is stored `queued` and started when one frees (store.promote)."""
        now, until = self._lease()
        try:
            admitted = self.store.admit(instance, spec, now, self.owner, until)
        except InstanceExists:
            return self._existing(instance.instance_id, instance.workflow)
        if admitted.status == RUNNING:
            self.run_leased(admitted, [])
        return admitted.instance_id, True

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
        with self._worklist(), running_here(self.owner, instance_id) as mine:
            if not mine:
                return None
            _, until = self._lease()
            claimed = self.store.claim(instance_id, self.owner, self.lease_clock.now(), until, include_parked,
                                       steal_from)
            if claimed is None:
                log.debug("claim %s: not runnable, or another worker holds it", instance_id)
                return None
            instance, history = claimed
            log.debug("claimed %s (%d recorded steps)", instance_id, len(history))
            return self._drive(instance, history)

    def _run_fired_batch(self, fired: list[str], result: TickResult, now: float, waits: dict[str, Wait]) -> None:
        """Run what one fire_due (at `now`, firing `waits`) leased to this worker; their outcomes at
        rest commit together."""
        delivered: list[str] = []  # instances the events these runs published satisfied
        leased = self.store.get_many(fired)
        workflows = {instance.instance_id: instance.workflow for instance, _ in leased}
        batch = FiredBatch(lambda commits: self._write_many(commits, delivered, workflows))
        for instance, history in leased:
            self._timer_fired(instance, waits.get(instance.instance_id), now)
            self._note(result, instance.instance_id, self.run_leased(instance, history, batch))
        batch.flush()
        for instance_id in dict.fromkeys(delivered):
            self._note(result, instance_id, self.resume(instance_id))
        for instance_id in batch.lost:  # cancelled or taken over meanwhile: say what it is now
            current = self.store.get(instance_id)
            result.resumed[instance_id] = current.status if current else FAILED

    def _timer_fired(self, instance: Instance, wait: Optional[Wait], now: float) -> None:
        if wait is not None and wait.wake_at is not None:
            self.observers.emit("on_timer_fired", instance_id=instance.instance_id, workflow=instance.workflow,
                                kind=wait.kind, lateness=max(0.0, now - wait.wake_at))

    def run_leased(self, instance: Instance, history: Optional[list[Step]] = None,
                   batch: Optional[FiredBatch] = None) -> Optional[str]:
        """Run an instance that this worker has just leased (fire_due, a delivery) as it was then,
        without reading it back; its history is read unless given. Once that lease has run out
        (earlier runs took long), the instance is claimed again instead."""
        if instance.lease_owner != self.owner or (instance.lease_until or 0) < self.lease_clock.now():
            return self.resume(instance.instance_id)
        with self._worklist(), running_here(self.owner, instance.instance_id) as mine:
            if not mine:
                return None
            if history is None:
                history = self.store.history(instance.instance_id)
            return self._drive(instance, history, batch=batch)

    def _drive(self, instance: Instance, history: list[Step], delivery: Optional[PendingDelivery] = None,
               create: bool = False, batch: Optional[FiredBatch] = None) -> str:
        """Run an instance to rest; the status it reached. A run that continued as new is followed
        at once by its successor, leased to this worker by that commit (as a start runs its
        instance), in a loop rather than recursion: a chain may continue many times over."""
        status, successor = self._drive_one(instance, history, delivery, create, batch)
        while successor is not None:
            successor = self._drive_successor(successor)
        return status

    def _drive_successor(self, successor: Instance) -> Optional[Instance]:
        """Run a successor as committed: read back, for the event_floor the store gave it."""
        with running_here(self.owner, successor.instance_id) as mine:
            if not mine:  # another thread of this process runs it already
                return None
            _, until = self._lease()
            claimed = self.store.claim(successor.instance_id, self.owner, self.lease_clock.now(), until)
            if claimed is None:  # cancelled meanwhile
                return None
            return self._drive_one(*claimed)[1]

    def _drive_one(self, instance: Instance, history: list[Step], delivery: Optional[PendingDelivery] = None,
                   create: bool = False, batch: Optional[FiredBatch] = None) -> tuple[str, Optional[Instance]]:
        iid = instance.instance_id
        delivered: list[str] = []  # instances the events this run published satisfied

        def write(commit: Commit) -> Optional[StoredEvent]:
            return self._write(commit, delivered, instance.workflow)

        first = FirstWrite(iid, instance if create else None, delivery, write)
        hooks = RunHooks(instance, self.clock.now, first, write, self.started, batch, self.outbox_url,
                         lambda *child: self._bind_child(iid, *child),
                         lambda: self.store.addressed_events(iid, CHILD_ENDED, instance.event_floor),
                         self.observers)
        if create:
            self.observers.emit("on_workflow_start", instance_id=iid, workflow=instance.workflow)
        with renewing(self.lease_seconds, lambda: self._renew(iid)), \
                self.observers.run_span(iid, instance.workflow, instance.trace) as reached:
            try:
                status = self._run_to_rest(instance, history, hooks)
                reached(status)
            except (LeaseLost, DeliveryConflict, InstanceExists, StorageFault):
                raise
            except BaseException:  # interrupted (Ctrl-C, a crash) during its first activity: the
                first.interrupted()  # instance is stored, to be recovered, as when it came first
                raise
        self._resume_all(delivered)
        return status, hooks.successor

    def _resume_all(self, delivered: list[str]) -> None:
        """Run the instances that events published here satisfied: they are leased to this worker,
        as those of `send-event` are, so no other worker or tick needs to."""
        queue = getattr(self._woken, "queue", None)
        for instance_id in dict.fromkeys(delivered):
            if queue is None:
                self.resume(instance_id)
            elif instance_id not in queue:
                queue.append(instance_id)

    def _renew(self, instance_id: str) -> None:
        self.store.renew_lease(instance_id, self.owner, self.lease_clock.now() + self.lease_seconds)

    def _run_to_rest(self, instance: Instance, history: list[Step], hooks: RunHooks) -> str:
        definition = self.registry.workflows.get(instance.workflow)
        if definition is None:
            return self._park(instance, f"workflow {instance.workflow!r} is not registered in this worker",
                              hooks)
        while True:
            try:
                # LeaseLost may also come from the commit before an activity, inside the run.
                outcome, ctx = replay.run(definition, instance.instance_id, instance.args, instance.kwargs,
                                          history, hooks, _cancel_request(instance))
                hooks.raise_fault()
                event = self._commit_outcome(instance, outcome, ctx, hooks)
            except LeaseLost:
                current = self.store.get(instance.instance_id)
                return current.status if current else FAILED
            if event is None:
                return _status_of(outcome)
            # An event arrived while this run was suspending: replay again with it in history.
            wait = outcome.wait  # type: ignore[union-attr]
            history = sorted(ctx.history + [Step(wait.seq, "event", wait.step_name, event.to_plain())],
                             key=lambda step: step.seq)  # concurrent async activities record out of order

    def _commit_outcome(self, instance: Instance, outcome: replay.Outcome, ctx: WorkflowContext,
                        hooks: RunHooks) -> Optional[StoredEvent]:
        if isinstance(outcome, replay.Diverged):
            self._park(instance, outcome.message, hooks)
            return None
        create, delivery = hooks.first.take()
        iid = instance.instance_id
        if isinstance(outcome, replay.ContinuedAsNew):
            successor = self._successor(instance, outcome)
            hooks.write(Commit(iid, outcome.steps, Transition(CONTINUED_AS_NEW), create, delivery,
                               successor=successor))
            hooks.successor = successor  # committed: the caller runs it next
            return None
        if isinstance(outcome, replay.Suspended) and outcome.wait.kind == "event":
            return hooks.write(Commit(iid, outcome.steps, Transition(WAITING_FOR_EVENT, wait=outcome.wait), create,
                                      delivery, instance.event_floor, frozenset(consumed(ctx.history))))
        transition = _transition_at_rest(outcome)
        if transition.status in (FAILED, CANCELLED) and any(s.kind == CHILD for s in ctx.history):
            self._close_children(iid, f"parent {iid} {transition.status}")
        ended = child_ended(instance, transition.status, transition.output, transition.error) \
            if transition.status in TERMINAL else None
        release = self.queues.get(instance.queue) if instance.queue and transition.status in TERMINAL else None
        commit = Commit(iid, outcome.steps, transition, create, delivery,  # type: ignore[union-attr]
                        events=(ended,) if ended is not None else (), release=release)
        if hooks.batch is not None and create is None and delivery is None:
            hooks.batch.add(commit)
            return None
        return hooks.write(commit)

    def _successor(self, instance: Instance, outcome: replay.ContinuedAsNew) -> Instance:
        """The new run of a continue_as_new, leased to this worker. Its event_floor starts at the
        old one's; the store raises it past the events the old run consumed (Commit.successor)."""
        now, until = self._lease()
        chain_id = instance.chain_id or instance.instance_id if instance.parent_id else None
        iid = ids.new_instance_id(instance.workflow)
        return Instance(iid, instance.workflow, RUNNING, outcome.args, outcome.kwargs, now, now,
                        event_floor=instance.event_floor, lease_owner=self.owner, lease_until=until,
                        continued_from=instance.instance_id, parent_id=instance.parent_id,
                        parent_close=instance.parent_close, chain_id=chain_id, queue=instance.queue,
                        trace=self.observers.new_trace(iid, instance.workflow))

    def _write(self, commit: Commit, delivered: list[str], workflow: str) -> Optional[StoredEvent]:
        now, until = self._lease()
        commit = self._with_starts(commit, now)
        began = time.perf_counter()
        late = self.store.commit(commit, self.owner, now, until, delivered)
        self.observers.emit("on_commit", duration=time.perf_counter() - began)
        self._committed(commit, workflow)
        log.debug("committed %s: %d new step(s), %s", commit.instance_id, len(commit.steps),
                  "woken by a stored event" if late else commit.transition.status)
        return late

    def _write_many(self, commits: list[Commit], delivered: list[str], workflows: dict[str, str]) -> list[str]:
        now, until = self._lease()
        commits = [self._with_starts(commit, now) for commit in commits]
        began = time.perf_counter()
        lost = self.store.commit_many(commits, self.owner, now, until, delivered)
        self.observers.emit("on_commit", duration=time.perf_counter() - began)
        for commit in commits:
            if commit.instance_id not in lost:
                self._committed(commit, workflows[commit.instance_id])
        return lost

    def _committed(self, commit: Commit, workflow: str) -> None:
        """Tell the hooks what a commit made true: a run's end, the instances it started."""
        status = commit.transition.status
        if status in TERMINAL:
            self.observers.emit("on_workflow_end", instance_id=commit.instance_id, workflow=workflow,
                                status=status, error=commit.transition.error)
        started = [commit.successor] if commit.successor is not None else []
        for instances in commit.starts.values():
            started += instances
        for instance in started:
            self.observers.emit("on_workflow_start", instance_id=instance.instance_id, workflow=instance.workflow)

    def _with_starts(self, commit: Commit, now: float) -> Commit:
        """The commit with the instances its published events start (start_on) and the children
        its CHILD steps start; their input was checked when the step ran (publishing.send_event,
        children.start_child), so this does not raise."""
        starts = {(event.source, event.id): self._traced(self.started(event, now))
                  for event in published_events(commit.steps)}
        if any(starts.values()):
            commit = replace(commit, starts=starts)
        started = child_started(commit.steps)
        if started:
            floor = self.store.start_floor()  # as a start's: events stored from here on are the child's
            children = [self._child(commit.instance_id, step, now, floor) for step in started]
            queues = {c.queue: self.queues[c.queue] for c in children if c.queue in self.queues}
            commit = replace(commit, children=children, queues=queues)  # type: ignore[arg-type]
        return commit

    @staticmethod
    def _child(parent_id: str, step: Step, now: float, floor: int) -> Instance:
        """The child a CHILD step starts; the store sets its lease (and admits it to its queue)."""
        result = step.result
        return Instance(result["id"], step.name, RUNNING, result["args"], result["kwargs"], now, now,
                        event_floor=floor, parent_id=parent_id, parent_close=result["parent_close"],
                        chain_id=result["id"], queue=result.get("queue"))

    def _bind_child(self, parent_id: str, workflow: str, child_id: Optional[str], args: tuple,
                    kwargs: dict, queue: Optional[str] = None) -> tuple[list[Any], dict[str, Any], Optional[str]]:
        """hooks.bind_child: the input checked before the CHILD step is recorded; a chosen id
        that exists must be an instance of that workflow, not another parent's child."""
        definition = self.registry.workflow(workflow)
        plain_args, plain_kwargs = definition.bind(tuple(args), kwargs)
        spec = self.queue(queue or definition.queue)
        existing = self.store.get(child_id) if child_id is not None else None
        if existing is not None and existing.workflow != workflow:
            raise UsageError(f"child id {child_id} is an instance of {existing.workflow!r}, not {workflow!r}")
        if existing is not None and existing.parent_id not in (None, parent_id):
            raise UsageError(f"child id {child_id} is a child of {existing.parent_id} already")
        return plain_args, plain_kwargs, spec.name if spec is not None else None

    def _close_children(self, parent_id: str, reason: str) -> None:
        """A parent that ends failed or cancelled cancels first its children still running
        (their undos run as any cancelled instance's), except those started to be abandoned."""
        for child in self.store.children(parent_id):
            if child.status in TERMINAL or child.parent_close == ABANDON:
                continue
            try:
                self.cancel(child.instance_id, reason)
            except RomancyError:  # it ended meanwhile: nothing to close
                log.debug("child %s of %s ended before its cancel", child.instance_id, parent_id)

    def _traced(self, instances: list[Instance]) -> list[Instance]:
        """New instances with their trace context (under the current span), when tracing."""
        if self.observers.tracer is None:
            return instances
        return [replace(i, trace=self.observers.new_trace(i.instance_id, i.workflow)) for i in instances]

    def _park(self, instance: Instance, message: str, hooks: RunHooks) -> str:
        create, delivery = hooks.first.take()
        error = {"type": "NonDeterminismError", "message": message}
        try:
            hooks.write(Commit(instance.instance_id, [], Transition(RUNNING, error=error, parked=True), create,
                               delivery))
        except LeaseLost:
            pass
        return PARKED

    # -- events, timers, cancel ------------------------------------------------

    def deliver_and_run(self, event: EventInput) -> Optional[tuple[Delivery, str]]:
        """An event that one waiting instance waits for: replay it with the event first, then
        store the event, satisfy the wait and record the run in one transaction (or, when the
        run reaches an activity, in the commit before it). None: use deliver()."""
        if self.registry.started_by(event.type):  # the event also starts instances: deliver() does both
            return None
        now = self.clock.now()
        waiting, duplicate = self.store.waiting_candidates(event)
        candidates = [i for i in waiting if matching.accepts(i, _provisional(event, i, now))]
        if len(candidates) != 1 or candidates[0].wait.competing:  # type: ignore[union-attr]
            return None  # a competing wait's step must say so: the store writes it (deliver())
        # A duplicate would be refused at the commit, but only after replaying the workflow with
        # it: its body (prints, logs) must not run for an event that is applied once already.
        if duplicate:
            log.debug("event %s/%s is stored already: not replayed", event.source, event.id)
            return None
        instance = candidates[0]
        received = _provisional(event, instance, now)
        with self._worklist(), running_here(self.owner, instance.instance_id) as mine:
            if not mine:
                return None
            history = self.store.history(instance.instance_id)
            wait = instance.wait
            history.append(Step(wait.seq, "event", wait.step_name, received.to_plain()))  # type: ignore[union-attr]
            try:
                status = self._drive(instance, history, PendingDelivery(event, wait.seq, wait.step_name))  # type: ignore[union-attr]
            except DeliveryConflict:
                return None
        return Delivery(event.id, None, False, (instance.instance_id,)), status

    def deliver(self, event: EventInput, lease: bool = True,
                start: Optional[tuple[str, list[Any], dict[str, Any]]] = None) -> Delivery:
        """Store an event and satisfy the waits it matches, in one transaction. With `lease`, the
        satisfied instances are leased to this worker, which should resume them next; without,
        any worker may pick them up. Instances the event starts (start_on) are inserted in that
        transaction, likewise; data that does not fit them raises UsageError, nothing stored.
        `start` = (workflow, args, kwargs): deliver-or-start, the event's target is started with
        them in that transaction unless it exists."""
        now, until = self._lease()
        receiver = self._traced([self._receiver(event, start, now)])[0] if start is not None else None
        starts = self._traced(self.started(event, now))
        delivery = self.store.add_event(event, now, self.owner if lease else None, until, starts, receiver)
        workflows = {i.instance_id: i.workflow for i in starts + ([receiver] if receiver is not None else [])}
        for instance_id in delivery.started:
            self.observers.emit("on_workflow_start", instance_id=instance_id, workflow=workflows[instance_id])
        return delivery

    def _receiver(self, event: EventInput, start: tuple[str, list[Any], dict[str, Any]], now: float) -> Instance:
        workflow, args, kwargs = start
        if event.target is None:
            raise UsageError("starting a workflow to deliver an event to needs the instance id (--instance)")
        args, kwargs = self.registry.workflow(workflow).bind(tuple(args), kwargs)
        if self.store.get(event.target) is None:  # it is created: an id every route can reach
            ids.check_instance_id(event.target)
        self._existing(event.target, workflow)  # an instance of another workflow is an input error
        return Instance(event.target, workflow, RUNNING, args, kwargs, now, now)

    def schedule_input(self, schedule: Schedule) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of a schedule's runs: its input checked against the workflow when this
        worker has it; as stored otherwise (the run says what does not fit)."""
        definition = self.registry.workflows.get(schedule.workflow)
        if definition is None:
            return [], dict(schedule.input)
        try:
            return definition.bind((), dict(schedule.input))
        except UsageError:
            return [], dict(schedule.input)

    def started(self, event: EventInput, now: Optional[float] = None) -> list[Instance]:
        """The instances `event` starts (start_on); UsageError when its data does not fit one."""
        return started_instances(self.registry, event, self.clock.now() if now is None else now)

    def tick(self, retry_parked: bool = True) -> TickResult:
        """Fire what is due, then run runnable and recovered instances, and parked ones when
        `retry_parked` (a loop that ticks often asks for them only after the code changed)."""
        result = TickResult()
        while True:
            now, until = self._lease()
            waits: dict[str, Wait] = {}
            fired = self.store.fire_due(now, self.owner, until, FIRE_BATCH, waits)
            result.fired += fired
            if fired:
                log.debug("fired %d due timer(s) or timeout(s): %s", len(fired), ", ".join(fired))
            self._run_fired_batch(fired, result, now, waits)
            if len(fired) < FIRE_BATCH:
                break
        self._promote_queued(result)
        for instance in self.store.runnable(RECOVER_BATCH, include_parked=retry_parked):
            if instance.instance_id not in result.resumed and self.recoverable(instance):
                status = self.resume(instance.instance_id, retry_parked, instance.lease_owner)
                self._note(result, instance.instance_id, status)
        # After timers and recovery: a run that ends by now (a crashed worker's included) has
        # ended when its schedule's next slot looks, for the overlap policy.
        schedules.fire_due(self, lambda iid, status: self._note(result, iid, status))
        result.next_wake = self.store.next_wake()
        return result

    def _promote_queued(self, result: TickResult) -> None:
        """Start queued instances whose queue has room now (a rate's window moved on, a slot
        freed by a process that died before it could); nothing to do without queues."""
        for spec in self.queues.values():
            now, until = self._lease()
            for instance_id in self.store.promote(spec, now, self.owner, until):
                self._note(result, instance_id, self.resume(instance_id))

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
        """Cancelled at once, or, when it completed an activity that declares an undo, left
        `compensating` for a worker's run (tick, serve) to undo what was done, then cancelled."""
        with self._worklist():
            history = self.store.history(instance_id)
            if any(step.kind == CHILD for step in history):
                self._close_children(instance_id, f"parent {instance_id} cancelled")
            cancelled = self.store.cancel(instance_id, reason, self.clock.now(), self._has_undo(history))
            if cancelled.parent_id is not None and cancelled.status == CANCELLED:
                self._resume_all([cancelled.parent_id])  # told in the cancel's transaction: it may go on
            spec = self.queues.get(cancelled.queue or "")
            if spec is not None and cancelled.status == CANCELLED:  # its slot freed: the next one starts
                now, until = self._lease()
                self._resume_all(self.store.promote(spec, now, self.owner, until))
        if cancelled.status == CANCELLED:
            self.observers.emit("on_workflow_end", instance_id=instance_id, workflow=cancelled.workflow,
                                status=CANCELLED, error=cancelled.error)
        return cancelled

    def _has_undo(self, history: list[Step]) -> bool:
        activities = self.registry.activities
        return any(step.kind == "activity" and "value" in step.result
                   and getattr(activities.get(step.name), "compensate", None) is not None
                   for step in history)

    def retry(self, instance_id: str) -> Optional[str]:
        """Run a failed instance again from its failed step: an activity whose failure ended the
        workflow runs again; when the workflow's own code failed, replay reaches it again."""
        history = self.store.history(instance_id)
        last = history[-1] if history else None
        failed = last.seq if last is not None and last.kind == "activity" and "error" in last.result else None
        self.store.reopen(instance_id, failed, self.clock.now())
        return self.resume(instance_id)

    # -- why an event did not resume an instance (asked for, never on a delivery's path) --

    def near_misses(self, instance: Instance) -> list[tuple[LoggedEvent, str]]:
        """Events of the awaited type received since the instance started that it did not
        accept, newest first, each with the first reason."""
        wait = instance.wait
        if instance.status != WAITING_FOR_EVENT or wait is None or wait.kind != "event":
            return []
        missed = []
        for logged in self.store.events_after(wait.event_type or "", instance.event_floor, NEAR_MISSES):
            reason = matching.why_not(instance, logged.event, logged.consumed_by)
            if reason is not None:
                missed.append((logged, reason))
        return missed

    def unmatched(self, event: EventInput, seq: int) -> tuple[int, bool, list[tuple[str, str]]]:
        """For a stored event that satisfied no wait: how many instances wait for its type (at
        most NEAR_MISSES), whether more do, and why each of those did not take it."""
        if event.target is not None:  # only the addressed instance could have taken it
            target = self.store.get(event.target)
            waiting = [target] if target is not None and target.status == WAITING_FOR_EVENT \
                and target.wait is not None and event.type in target.wait.event_types else []
        else:
            waiting = self.store.waiting_for_type(event.type, NEAR_MISSES + 1)
        stored = StoredEvent(seq, event.type, event.source, event.id, self.clock.now(), event.data, event.subject,
                             event.time, event.data_content_type, event.data_schema, dict(event.extensions))
        waiting, more = waiting[:NEAR_MISSES], len(waiting) > NEAR_MISSES
        reasons = [(i.instance_id, matching.why_not(i, stored)) for i in waiting]
        return len(waiting), more, [(iid, reason) for iid, reason in reasons if reason is not None]


def _cancel_request(instance: Instance) -> Optional[dict[str, Any]]:
    """The Cancelled error of a cancel that left the instance compensating (Store.cancel). Once
    the run recorded its `ended` step, that step is what it compensates for."""
    if instance.status == COMPENSATING and instance.error and instance.error.get("type") == "Cancelled":
        return instance.error
    return None


def _transition_at_rest(outcome: replay.Outcome) -> Transition:
    """Completed, failed, or sleeping on a timer or a retry."""
    if isinstance(outcome, replay.Completed):
        return Transition(COMPLETED, output=outcome.output)
    if isinstance(outcome, replay.Failed):
        return Transition(FAILED, error=outcome.error)
    if isinstance(outcome, replay.Cancelled):
        return Transition(CANCELLED, error=outcome.error)
    return Transition(WAITING_FOR_TIMER, wait=outcome.wait)  # type: ignore[union-attr]


def _status_of(outcome: replay.Outcome) -> str:
    if isinstance(outcome, replay.Completed):
        return COMPLETED
    if isinstance(outcome, replay.Failed):
        return FAILED
    if isinstance(outcome, replay.Cancelled):
        return CANCELLED
    if isinstance(outcome, replay.ContinuedAsNew):
        return CONTINUED_AS_NEW
    if isinstance(outcome, replay.Suspended):
        return WAITING_FOR_EVENT if outcome.wait.kind == "event" else WAITING_FOR_TIMER
    return PARKED  # Diverged


__all__ = ["Engine", "TickResult"]
