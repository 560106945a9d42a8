"""App: the composition root and the only door into the engine for the CLI, HTTP and users."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from . import ids
from .app_schedules import ScheduleOps
from .definitions import REGISTRY, Registry, WorkflowDefinition, queue_spec
from .durations import Duration, deadline, to_seconds
from .engine.clock import SystemClock
from .errors import AmbiguousIdError, NotFoundError, RomancyError
from .observe import Observers
from .records import (PENDING, SENT, Attempt, EventInput, Instance, LoggedEvent, Misfit, OutboxItem, PruneResult,
                      QueueState, Step)

if TYPE_CHECKING:  # the engine is imported on first use: `romancy status` only reads the store
    from .engine.engine import Engine, TickResult
    from .engine.ports import Clock, Store
CANDIDATES = 10  # instances an ambiguous id prefix lists
SHORT_ID_SCAN = 5000  # ids read to shorten a table's: past that the ids stay whole
KNOWN_TYPES = 1000  # waited-for event types read for a did-you-mean: a hint, not a report


@dataclass(frozen=True)
class SendResult:
    event_id: str
    duplicate: bool
    delivered: tuple[str, ...]
    resumed: dict[str, str] = field(default_factory=dict)
    started: tuple[str, ...] = ()  # instances the event started (start_on)
    # An event that satisfied no wait: how many instances wait for its type, and why each did not.
    waiting: int = 0
    more_waiting: bool = False
    near_misses: tuple[tuple[str, str], ...] = ()


class App(ScheduleOps):
    """`App(database="romancy.db", worker_id="worker-1")`; use as a context manager or call
    initialize() / shutdown(). `hooks=[...]`: objects told of every real start, end, activity
    attempt, event, timer and relay attempt (the "Observe" how-to; romancy_cli/observe.py)."""

    def __init__(self, database: str = "romancy.db", worker_id: Optional[str] = None, *,
                 clock: Optional[Clock] = None, lease_seconds: float = 30.0,
                 synchronous: str = "normal", registry: Optional[Registry] = None,
                 busy_timeout: float = 30.0, only_database: bool = False,
                 outbox_url: Optional[str] = None, queues: Sequence[tuple[str, Any, Any]] = (),
                 config_source: str = "configuration", hooks: Sequence[Any] = (), shared_clock: bool = False) -> None:
        self.database = database
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.clock = clock or SystemClock()
        # shared_clock: run on the database's virtual clock (the CLI's), the real clock moved by
        # the offset `tick --advance` stores; leases stay on the real clock.
        self._lease_clock = self.clock
        self.shared_clock = shared_clock
        self.lease_seconds = lease_seconds
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout  # SQLite: seconds a write waits for another process's lock
        self.registry = registry or REGISTRY
        # This process opens no other database (a `romancy` command): a SQLite one may then import
        # peewee without the PostgreSQL drivers it would load at start-up (psycopg: ~0.1 s).
        self.only_database = only_database
        self.outbox_url = outbox_url  # where events published without `to` are relayed (`[outbox] url`)
        # [queues.NAME] of romancy.toml, checked now: a bad one is an input error naming the file.
        self.queues = tuple(queue_spec(name, concurrency, rate, config_source) for name, concurrency, rate in queues)
        # Told what really happens (starts, ends, activities, events, timers): romancy_cli/observe.py.
        self.observers = Observers(hooks)
        self._store: Optional[Store] = None
        self._engine: Optional[Engine] = None
        self.opened_at = self.clock.now()

    def add_hook(self, hook: Any) -> None:
        """Register a hook (romancy_cli/observe.py lists its methods) after construction."""
        self.observers.add(hook)

    # -- lifecycle -----------------------------------------------------------------

    def initialize(self) -> "App":
        """Open the database (creating or migrating its schema)."""
        if self._store is None:
            from .store import import_for_sqlite_only, is_postgres, open_store

            # Slots due from now on are fired on time by this process, however late (engine/schedules.py).
            self.opened_at = self.clock.now()

            sqlite = not is_postgres(self.database)
            if sqlite and self.only_database:
                import_for_sqlite_only()
            options = {"synchronous": self.synchronous, "busy_timeout": self.busy_timeout} if sqlite else {}
            self._store = open_store(self.database, **options)
            if self.shared_clock:
                from .engine.clock import OffsetClock

                self.clock = OffsetClock(self._lease_clock, self._store.clock_offset())
        return self

    def shutdown(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store = self._engine = None

    def __enter__(self) -> "App":
        return self.initialize()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RomancyError("App is not initialized: call app.initialize() or use `with App(...)`")
        return self._store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from .engine.engine import Engine

            self._engine = Engine(self.store, self.registry, self.clock, self.worker_id, self.lease_seconds,
                                  self.outbox_url, self.queues, live_since=self.opened_at,
                                  observers=self.observers, lease_clock=self._lease_clock)
        return self._engine

    # -- time ----------------------------------------------------------------------

    def now(self) -> float:
        """What time it is for this App's workflows (epoch seconds): its clock's."""
        return self.clock.now()

    @property
    def clock_offset(self) -> float:
        """Seconds the virtual clock is ahead of the real one (0 without `shared_clock`)."""
        return getattr(self.clock, "offset", 0.0) if self.shared_clock else 0.0

    def advance_clock(self, by: Duration) -> float:
        """Move the database's virtual clock on by `by` (it adds up); returns the new now."""
        clock = self._virtual()
        deadline(self.now(), by, "--advance")  # refuses a time past the year 9999
        clock.offset = self.store.move_clock(to_seconds(by, "--advance"))
        return self.now()

    def set_clock(self, when: float) -> None:
        """Set the database's virtual clock to `when` (epoch seconds); the real time: reset."""
        clock = self._virtual()
        clock.offset = self.store.move_clock(when - clock.base.now() - self.store.clock_offset())

    def reset_clock(self) -> None:
        """Back to the real time."""
        self._virtual().offset = self.store.move_clock(-self.store.clock_offset())

    def refresh_clock(self) -> None:
        """Read the offset again: another process may have moved the clock (serve's timer loop)."""
        if self.shared_clock:
            self._virtual().offset = self.store.clock_offset()

    def _virtual(self) -> Any:
        if not self.shared_clock or self._store is None:
            raise RomancyError("the database's virtual clock needs App(shared_clock=True), initialized")
        return self.clock

    # -- operations ----------------------------------------------------------------

    def start(self, workflow: Union[str, WorkflowDefinition], *args: Any,
              instance_id: Optional[str] = None, queue: Optional[str] = None, **kwargs: Any) -> str:
        """Start an instance and run it until it waits or finishes; returns its id. `queue` (or
        the workflow's `queue=`) starts it in that queue: `queued` while the queue is full."""
        return self.start_instance(workflow, list(args), kwargs, instance_id, queue)[0]

    def start_instance(self, workflow: Union[str, WorkflowDefinition], args: list[Any],
                       kwargs: dict[str, Any], instance_id: Optional[str] = None,
                       queue: Optional[str] = None) -> tuple[str, bool]:
        """Like start, also saying whether the instance was created (False: the id existed)."""
        name = workflow.name if isinstance(workflow, WorkflowDefinition) else workflow
        return self.engine.start(name, args, kwargs, instance_id, queue)

    def queue_states(self) -> list[QueueState]:
        """Every declared queue (in code and in romancy.toml), by name, with what it holds now."""
        specs = self.engine.queues
        return self.store.queue_states([specs[name] for name in sorted(specs)])

    def send_event(self, event_type: Any, data: Any = None, *, source: str = "romancy-cli",
                   event_id: Optional[str] = None, subject: Optional[str] = None,
                   instance: Optional[str] = None, extensions: Optional[dict[str, Any]] = None,
                   resume: bool = True, start_workflow: Optional[str] = None, args: Sequence[Any] = (),
                   kwargs: Optional[dict[str, Any]] = None) -> SendResult:
        """Store a CloudEvent and resume the instances it satisfies (unless resume=False). With
        `start_workflow` (and `instance`), instance `instance` of that workflow is started with
        `args`/`kwargs` unless it exists, and receives the event: in one transaction.
        `event_type` may also be a CloudEvents SDK `CloudEvent`: its attributes and data are sent."""
        event = self.event_input(event_type, data, source=source, event_id=event_id, subject=subject,
                                 instance=instance, extensions=extensions)
        start = (start_workflow, list(args), dict(kwargs or {})) if start_workflow is not None else None
        return self.accept(event, resume, start=start)

    def event_input(self, event_type: Any, data: Any = None, *, source: str = "romancy-cli",
                    event_id: Optional[str] = None, subject: Optional[str] = None,
                    instance: Optional[str] = None, extensions: Optional[dict[str, Any]] = None) -> EventInput:
        """The event send_event stores (its id generated when not given), for accept(): a caller
        that sends many can build and check_starts each before storing any."""
        if isinstance(event_type, str):
            ext = dict(extensions or {})
            event = EventInput(event_type, source, event_id or ids.new_event_id(), data, subject,
                               data_content_type="application/json", extensions=ext)
        else:
            from . import sdk

            event = sdk.event_input(event_type)
        if instance is not None:
            event = replace(event, extensions={**event.extensions, "romancyinstanceid": instance})
        return event

    def check_starts(self, event: EventInput) -> None:
        """Raise UsageError, naming the field, when the event's data does not fit a workflow it
        starts (start_on); accept() would refuse it the same way, storing nothing."""
        from .engine.triggers import check_starts

        check_starts(self.registry, event)

    def accept(self, event: EventInput, resume: bool = True,
               dispatch: Optional[Callable[[tuple[Instance, ...]], None]] = None,
               start: Optional[tuple[str, list[Any], dict[str, Any]]] = None) -> SendResult:
        """Store an event. Satisfied instances run here (resume), are handed to `dispatch`
        (leased to this worker, for run_leased), or are left for any worker (resume=False).
        `start`: see send_event (start_workflow)."""
        if self.observers.tracer is None:
            result = self._accept(event, resume, dispatch, start)
        else:  # under the sender's traceparent (CloudEvents Distributed Tracing)
            attributes = {"romancy.event.type": event.type, "romancy.event.source": event.source,
                          "romancy.event.id": event.id}
            with self.observers.span("romancy.event", event.extensions, attributes) as annotate:
                result = self._accept(event, resume, dispatch, start)
                annotate({"romancy.delivered_to": list(result.delivered + result.started),
                          "romancy.duplicate": result.duplicate})
        if self.observers.wants("on_event_received"):
            outcome = ("duplicate" if result.duplicate else "started" if result.started
                       else "delivered" if result.delivered else "unmatched")
            self.observers.emit("on_event_received", type=event.type, source=event.source, id=event.id,
                                outcome=outcome, instances=result.delivered + result.started)
        return result

    def _accept(self, event: EventInput, resume: bool, dispatch: Optional[Callable[[tuple[Instance, ...]], None]],
                start: Optional[tuple[str, list[Any], dict[str, Any]]]) -> SendResult:
        engine = self.engine
        if resume and dispatch is None and start is None:
            direct = engine.deliver_and_run(event)
            if direct is not None:  # one transaction: event, satisfied wait and the run after it
                delivery, status = direct
                return SendResult(delivery.event_id, False, delivery.delivered, {delivery.delivered[0]: status})
        delivery = engine.deliver(event, lease=resume or dispatch is not None, start=start)
        if not (delivery.delivered or delivery.started or delivery.duplicate) and delivery.seq is not None:
            waiting, more, missed = engine.unmatched(event, delivery.seq)
            return SendResult(delivery.event_id, False, (), {}, waiting=waiting, more_waiting=more,
                              near_misses=tuple(missed))
        resumed: dict[str, str] = {}
        if dispatch is not None:
            if delivery.leased:
                dispatch(delivery.leased)
        elif resume:
            for instance_id in delivery.delivered + delivery.started:
                status = engine.resume(instance_id)
                if status is not None:
                    resumed[instance_id] = status
        return SendResult(delivery.event_id, delivery.duplicate, delivery.delivered, resumed, started=delivery.started)

    def tick(self, now: Optional[float] = None, advance: Optional[Duration] = None,
             retry_parked: bool = True) -> TickResult:
        """Fire due timers and timeouts and run what is runnable, as of now (or a chosen time);
        parked instances are retried too unless `retry_parked` is False. With `shared_clock`,
        `advance` moves the database's virtual clock (advances add up)."""
        if self.shared_clock:  # another process may have moved it (serve, tick --loop)
            self.refresh_clock()
            if advance is not None:
                self.advance_clock(advance)
                advance = None
        engine = self.engine
        if advance is not None:
            now = deadline(engine.clock.now(), advance, "advance")
        if now is not None:
            engine = engine.shifted(now)
        return engine.tick(retry_parked)

    def resume(self, instance_id: str) -> Optional[str]:
        """Run one instance if it is runnable (also parked and recovered ones)."""
        instance = self.get(instance_id)
        if not self.engine.recoverable(instance):
            return None
        return self.engine.resume(instance_id, include_parked=True, steal_from=instance.lease_owner)

    def cancel(self, instance_id: str, reason: str = "cancelled by user") -> Instance:
        return self.engine.cancel(instance_id, reason)

    def check_replay(self, workflow: Optional[str] = None, instance_id: Optional[str] = None,
                     include_ended: bool = False,
                     progress: Optional[Callable[[int, int], None]] = None) -> tuple[int, list[Misfit]]:
        """Replay recorded histories against the registered code, writing nothing and running no
        activity: (instances checked, those a resume would park). Ended instances only when
        `include_ended`; `progress(done, total)` is told as it goes."""
        from .engine.check import check

        if instance_id is not None:
            self.get(instance_id)
        return check(self.store, self.registry, workflow, instance_id, include_ended, progress)

    def get(self, instance_id: str) -> Instance:
        instance = self.store.get(instance_id)
        if instance is None:
            raise NotFoundError(f"no instance {instance_id!r}; `romancy status` lists instances")
        return instance

    def find(self, id_or_prefix: str) -> Instance:
        """The instance with this id, else the one instance whose id starts with it (as git and
        docker take a commit or container); AmbiguousIdError lists the candidates of a prefix
        that starts several, NotFoundError when none."""
        instance = self.store.get(id_or_prefix)
        if instance is not None:
            return instance
        found = self.store.ids_starting_with([id_or_prefix], CANDIDATES + 1) if id_or_prefix else []
        if len(found) > 1:
            raise AmbiguousIdError(id_or_prefix, found[:CANDIDATES], len(found) > CANDIDATES)
        return self.get(found[0] if found else id_or_prefix)

    def short_ids(self, instances: Sequence[Instance]) -> dict[str, str]:
        """For each instance, the shortest prefix of its id that `find` takes (for narrow
        tables); an id whose neighbours are too many to read stays whole."""
        floors = {i.instance_id: ids.short_id_floor(i.instance_id, i.workflow) for i in instances}
        found = self.store.ids_starting_with(sorted(set(floors.values())), SHORT_ID_SCAN + 1)
        if len(found) > SHORT_ID_SCAN:
            return {iid: iid for iid in floors}
        return {iid: ids.shortest_unique(iid, floor, [other for other in found if other.startswith(floor)])
                for iid, floor in floors.items()}

    def history(self, instance_id: str) -> list[Step]:
        """The recorded steps, failed and retried attempts included (kinds "attempt" and "retried",
        before their step)."""
        return self.store.shown_history(instance_id)

    def list_instances(self, status: Optional[str] = None, workflow: Optional[str] = None,
                       limit: Optional[int] = None, after: Optional[tuple[float, str]] = None,
                       search: Optional[str] = None) -> list[Instance]:
        """Newest first; `after` (created_at, instance_id) of the last one seen continues a listing.
        `status` may be "parked"; `search` is an id prefix or text in the input."""
        return self.store.list_instances(status, workflow, limit, after, search)

    def children(self, instance_id: str) -> list[Instance]:
        """The children `instance_id` started (and the runs they continued as), oldest first."""
        return self.store.children(instance_id)

    def count_instances(self, workflow: Optional[str] = None) -> dict[str, int]:
        """Instances per status, parked ones under "parked"."""
        return self.store.count_instances(workflow)

    def count_by_workflow(self) -> dict[tuple[str, str], int]:
        """Instances per (workflow, status), parked ones under "parked"."""
        return self.store.count_by_workflow()

    def count_outbox_pending(self) -> int:
        """Published events still to be relayed."""
        return self.store.count_outbox_pending()

    def list_events(self, event_type: Optional[str] = None, since: Optional[float] = None,
                    unconsumed: bool = False, limit: Optional[int] = None,
                    before: Optional[int] = None) -> list[LoggedEvent]:
        """Stored events, newest first, with the instances that consumed each; `since` in epoch
        seconds; `before` (the seq of the last one seen) continues a listing."""
        return self.store.list_events(event_type, since, unconsumed, limit, before)

    def near_misses(self, instance: Instance) -> list[tuple[LoggedEvent, str]]:
        """For an instance waiting for an event: the events of that type received since it
        started that it did not accept, each with the first reason."""
        return self.engine.near_misses(instance)

    def known_event_types(self) -> list[str]:
        """The event types something here takes: waiting instances' and `start_on` triggers'."""
        triggers = {t for d in self.registry.workflows.values() for t in d.start_on}
        return sorted(triggers.union(self.store.waited_types(KNOWN_TYPES)))

    def retry(self, instance_id: str) -> Optional[str]:
        """Run a failed instance again from its failed step (its failed attempt stays in its
        history); returns its status after, or None when another worker took it first."""
        return self.engine.retry(instance_id)

    def prune(self, ended_before: Optional[float], events_before: Optional[float],
              dry_run: bool = False, progress: Optional[Callable[[int], None]] = None) -> PruneResult:
        """Delete ended instances last updated before `ended_before` and events received before
        `events_before` (epoch seconds; None: keep) that no live or failed instance may still take;
        `progress(rows)` is told of each batch deleted (instances and events)."""
        return self.store.prune(ended_before, events_before, dry_run, progress)

    def run_leased(self, instance: Instance) -> Optional[str]:
        """Run an instance as accept() leased it to this worker (for `dispatch`); returns its
        status after, or None when another thread or worker has it."""
        return self.engine.run_leased(instance)

    # -- the outbox (romancy_cli/relay.py sends it) ---------------------------------------

    def claim_outbox(self, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` due pending events to this worker for `lease_seconds`."""
        now = self.clock.now()
        return self.store.claim_outbox(self.engine.owner, now, now + lease_seconds, limit)

    def record_attempt(self, item: OutboxItem, attempt: Attempt) -> bool:
        """Record how an attempt to relay `item` went; False when this worker's lease had ended."""
        recorded = self.store.record_attempt(item.event.seq, self.engine.owner, attempt)
        if recorded:
            event = item.event
            if attempt.status == SENT:
                self.observers.emit("on_outbox_sent", event_type=event.type, event_id=event.id, target=item.target,
                                    attempts=item.attempts + 1)
            else:
                self.observers.emit("on_outbox_failed", event_type=event.type, event_id=event.id,
                                    target=item.target, error=attempt.error, final=attempt.status != PENDING)
        return recorded

    def release_outbox(self, items: Sequence[OutboxItem]) -> None:
        """Give back this worker's leases of `items`, not attempted."""
        self.store.release_outbox([item.event.seq for item in items], self.engine.owner)

    def next_outbox_due(self) -> Optional[float]:
        """When the earliest pending event may be relayed (epoch seconds), if any."""
        return self.store.next_outbox_due()

    def list_outbox(self, status: Optional[str] = None, limit: Optional[int] = None) -> list[OutboxItem]:
        """Events published with a relay target, oldest first; `status` pending, sent or failed."""
        return self.store.list_outbox(status, limit)

    def retry_outbox(self, event_id: str) -> int:
        """Requeue the failed outbox entries of event `event_id` (NotFoundError: none; RomancyError:
        not failed); returns how many."""
        return self.store.requeue_outbox(event_id, self.clock.now())

    def next_wake(self) -> Optional[float]:
        """When the earliest timer, timeout or retry falls due (epoch seconds), if any."""
        return self.store.next_wake()

    def check_writable(self) -> None:
        """Raise errors.StorageFault while the database cannot take writes (for readiness probes)."""
        self.store.check_writable()

    def wait_for_wake(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True early when another connection or process may have
        made work (an event, an earlier timer). A hint: call tick() to find out."""
        return self.store.wait_for_wake(timeout)
