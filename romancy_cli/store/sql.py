"""The Store on peewee, shared by SQLite and PostgreSQL. Plain records in, plain records out."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import replace
from typing import Any, ContextManager, Iterator, Optional, Sequence

import peewee as pw

from ..codec import dumps
from ..errors import NotFoundError, RomancyError, StorageFault
from ..records import (CANCELLED, COMPENSATING, COMPLETED, CONTINUED_AS_NEW, FAILED, QUEUED, RUNNABLE, RUNNING, TERMINAL, WAITING_FOR_EVENT,
                       WAITING_FOR_TIMER, Commit, Delivery, EventInput, Instance, PendingDelivery, Step, StoredEvent,
                       Transition, Wait, child_ended, published_events, relay_targets)
from ..engine.matching import accepts, event_match_values, match_index, satisfies
from ..engine.ports import DeliveryConflict, InstanceExists, LeaseLost
from .faults import FAULTS, storage_fault
from .listing import Listing
from .models import event_key_sql, event_seq_sql, make_models
from .outbox import Outbox
from .schedules import Schedules
from .queries import Queries
from .queues import Queues
from .upkeep import Upkeep

WAITING = (WAITING_FOR_EVENT, WAITING_FOR_TIMER)
WAKE_POLL = 0.05  # seconds between SQLite data_version checks in wait_for_wake
_AFTER_ALL = 2**62  # a seq after every instance's start floor
_STILL_RUNNING = Transition(RUNNING, keep_lease=True)
# check_writable's probe: a write of this size must fit where the writes that failed did not.
_PROBE_KEY, _PROBE_BYTES = "write_probe", 64 * 1024


def _step(row: Sequence[Any]) -> Step:
    seq, kind, name, result = row
    return Step(seq, kind, name, json.loads(result))


def _loads(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


class SqlStore(Upkeep, Listing, Outbox, Schedules, Queues):
    """Implements engine.ports.Store. Dialect differences: placeholder style, LOCK_SQL / CLAIM_SQL,
    and the lock hooks at the end."""

    LOCK_SQL = ""  # SQLite: BEGIN IMMEDIATE already serialises writers
    CLAIM_SQL = ""
    busy_timeout = 30.0  # seconds a write waits for another process's lock (SQLite)

    def __init__(self, db: pw.Database, location: str) -> None:
        self.db = db
        self.location = location
        self.m = make_models(db)
        self.q = Queries(db.param, self.LOCK_SQL, self.CLAIM_SQL, event_seq_sql(db), event_key_sql(db))
        self._wake = threading.local()  # SQLite wait_for_wake: the data_version last seen per thread
        self.last_fault: Optional[StorageFault] = None  # of the last write transaction, if it failed
        self._writer: ContextManager[Any] = contextlib.nullcontext()  # SQLite: this process's writers queue here

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, PostgreSQL: READ COMMITTED); a fault of
        the database in it, its commit or its rollback raises StorageFault, nothing written."""
        with self._writer:
            self._before_write()
            try:
                with self.db.atomic():
                    yield
            except FAULTS as exc:
                self.last_fault = storage_fault(exc, self.location, self.busy_timeout)
                raise self.last_fault from exc
            except StorageFault as fault:
                self.last_fault = fault
                raise
            self.last_fault = None
            self._committed()

    def _before_write(self) -> None:
        """Called before each write transaction of this process, in its queue (SQLite: after a
        full disk, make room)."""

    def _committed(self) -> None:
        """Called after each write transaction of this process (SQLite: the checkpointer counts it)."""

    def check_writable(self) -> None:
        """Raise StorageFault while writes fail: after a failed write, until a probe write succeeds."""
        if self.last_fault is None:
            self._one("SELECT 1")
            return
        param = self.db.param
        with self._write():  # the pages of a typical event or step, allocated and freed at once
            self._run(f"INSERT INTO romancy_meta (key, value) VALUES ({param}, {param})", (_PROBE_KEY, " " * _PROBE_BYTES))
            self._run(f"DELETE FROM romancy_meta WHERE key = {param}", (_PROBE_KEY,))

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.db.execute_sql(sql, params)
        except FAULTS as exc:
            raise storage_fault(exc, self.location, self.busy_timeout) from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._run(sql, params).fetchone()

    # -- conversions -------------------------------------------------------------

    @staticmethod
    def _instance(row: Sequence[Any]) -> Instance:
        (instance_id, workflow, status, args, kwargs, created_at, updated_at, output, error, wait_kind,
         wait_seq, wait_event_type, wait_match, wake_at, wait_attempt, event_floor, parked, lease_owner,
         lease_until, more_types, continued_from, continued_as, parent_id, parent_close, chain_id, competing,
         queue, started_at, trace) = row
        wait = None
        if wait_kind is not None:
            wait = Wait(wait_kind, wait_seq, wait_event_type, _loads(wait_match), wake_at, wait_attempt,
                        tuple(_loads(more_types) or ()), bool(competing))
        return Instance(instance_id, workflow, status, json.loads(args), json.loads(kwargs), created_at,
                        updated_at, _loads(output), _loads(error), wait, event_floor, bool(parked),
                        lease_owner, lease_until, continued_from, continued_as, parent_id, parent_close, chain_id,
                        queue, started_at, trace)

    @staticmethod
    def _event(row: Sequence[Any]) -> StoredEvent:
        seq, type_, source, event_id, received_at, data, subject, time_, content_type, schema, ext = row
        return StoredEvent(seq, type_, source, event_id, received_at, _loads(data), subject, time_,
                           content_type, schema, _loads(ext) or {})

    def _insert_steps(self, rows: list[tuple[str, int, str, str, str]]) -> None:
        if rows:
            self._run(self.q.insert_steps(len(rows)), [value for row in rows for value in row])

    def _placed(self, instance_id: str, steps: list[Step]) -> list[Step]:
        """The steps, those kept beside history (seq < 0: failed and retried attempts) each at a
        new negative seq below the instance's lowest, in their order: unique across retries."""
        if all(step.seq >= 0 for step in steps):
            return steps
        seq = min(self._one(self.q.lowest_seq, (instance_id,))[0] or 0, 0)
        placed = []
        for step in steps:
            if step.seq < 0:
                seq -= 1
                step = replace(step, seq=seq)
            placed.append(step)
        return placed

    # -- instances ---------------------------------------------------------------

    def start_floor(self) -> int:
        """The newest event's seq: events stored from now on have larger ones (see _lock_event_floor)."""
        return self._one(self.q.max_event_seq)[0] or 0

    def _insert_instance(self, instance: Instance) -> None:
        """Insert inside the caller's transaction; InstanceExists when the id is taken."""
        try:
            self._run(self.q.insert_instance, _instance_values(instance))
        except pw.IntegrityError:
            raise InstanceExists(instance.instance_id) from None

    def _insert_instance_if_new(self, instance: Instance) -> bool:
        """Insert inside the caller's transaction; False when the id is taken."""
        return self._run(self.q.insert_instance_if_new, _instance_values(instance)).rowcount == 1

    def get(self, instance_id: str) -> Optional[Instance]:
        row = self._one(self.q.get_instance, (instance_id,))
        return self._instance(row) if row else None

    def history(self, instance_id: str) -> list[Step]:
        """The steps replay reads (retried attempts left out: see shown_history)."""
        return [_step(row) for row in self._run(self.q.history, (instance_id,)).fetchall()]

    def get_many(self, instance_ids: list[str]) -> list[tuple[Instance, list[Step]]]:
        if not instance_ids:
            return []
        instances = {row[0]: self._instance(row)
                     for row in self._run(self.q.instances_in(len(instance_ids)), instance_ids).fetchall()}
        histories: dict[str, list[Step]] = {iid: [] for iid in instances}
        for row in self._run(self.q.histories_in(len(instance_ids)), instance_ids):
            histories[row[0]].append(_step(row[1:]))
        return [(instances[iid], histories[iid]) for iid in instance_ids if iid in instances]

    def claim(self, instance_id: str, owner: str, now: float, lease_until: float,
              include_parked: bool = False, steal_from: Optional[str] = None) -> Optional[tuple[Instance, list[Step]]]:
        instance = self.get(instance_id)
        if instance is None or instance.status not in RUNNABLE or (instance.parked and not include_parked):
            return None
        if not (instance.lease_owner == owner and (instance.lease_until or 0) >= now):
            if not self._take_lease(instance_id, owner, now, lease_until, include_parked, steal_from):
                return None
            instance = replace(instance, lease_owner=owner, lease_until=lease_until)
        return instance, self.history(instance_id)

    def _take_lease(self, instance_id: str, owner: str, now: float, lease_until: float,
                    include_parked: bool, steal_from: Optional[str]) -> bool:
        # PostgreSQL: a row another worker is locking is skipped (not waited for): not ours now.
        with self._write():
            cursor = self._run(self.q.take_lease, (
                owner, lease_until, instance_id, now, owner, steal_from or owner,
                False, include_parked))
            return cursor.rowcount == 1

    def renew_lease(self, instance_id: str, owner: str, lease_until: float) -> bool:
        with self._write():
            cursor = self._run(self.q.renew_lease, (lease_until, instance_id, owner))
            return cursor.rowcount == 1

    def runnable(self, limit: int, include_parked: bool) -> list[Instance]:
        instances = [self._instance(row) for row in self._run(self.q.runnable, (limit,)).fetchall()]
        return instances if include_parked else [i for i in instances if not i.parked]

    def next_wake(self) -> Optional[float]:
        """The earliest timer, timeout or retry, queued instance (when its rate lets it start), or
        slot of an active schedule."""
        due = [self._one(self.q.next_wake, (*WAITING, QUEUED))[0], self.next_schedule_due()]
        return min((t for t in due if t is not None), default=None)

    # -- commits -----------------------------------------------------------------

    def commit(self, commit: Commit, owner: str, now: float, lease_until: float,
               delivered: Optional[list[str]] = None) -> Optional[StoredEvent]:
        with self._write():
            if commit.create is not None:
                self._insert_instance(commit.create)
                if not commit.steps and commit.transition == _STILL_RUNNING:
                    return None  # inserted running and leased: nothing to update
            steps, transition = commit.steps, commit.transition
            if commit.delivery is not None:
                steps = [self._store_delivered(commit.instance_id, commit.delivery, now)] + steps
            event = self._late_event(commit) if commit.waits_for_event else None
            if event is not None:
                wait = transition.wait
                steps = steps + [Step(wait.seq, "event", wait.step_name, _taken(event, wait))]  # type: ignore[arg-type]
                transition = _STILL_RUNNING
            self._apply(commit.instance_id, owner, steps, transition, now, lease_until, commit.delivery, delivered,
                        commit.starts, commit)
            if commit.successor is not None:
                self._insert_successor(commit.instance_id, commit.successor)
            return event

    def _insert_successor(self, instance_id: str, successor: Instance) -> None:
        """continue_as_new, in the transaction that ended `instance_id`: insert the new run, its
        event_floor raised to the newest event the old run consumed. Events after that one were
        not taken by the old run, so the new one may take them: those that arrived in the gap
        between the end of one run and the wait of the next are not lost. Events the old run took
        are at or below the floor: none is taken twice, without carrying a set of them along."""
        consumed = self._one(self.q.last_consumed, (instance_id,))[0]
        floor = max(successor.event_floor, int(consumed or 0))
        self._insert_instance(replace(successor, event_floor=floor))
        self._run(self.q.link_successor, (successor.instance_id, instance_id))

    def commit_many(self, commits: Sequence[Commit], owner: str, now: float, lease_until: float,
                    delivered: Optional[list[str]] = None) -> list[str]:
        lost = []
        with self._write():
            for commit in commits:
                try:
                    self._apply(commit.instance_id, owner, commit.steps, commit.transition, now, lease_until,
                                delivered=delivered, starts=commit.starts, extra=commit)
                except LeaseLost:  # nothing of it written: the other commits still are
                    lost.append(commit.instance_id)
        return lost

    def _store_delivered(self, instance_id: str, delivery: PendingDelivery, now: float) -> Step:
        event = delivery.event
        self._lock_event_type(event.type)
        self._share_event_floor()
        stored = self._insert_event(event, now)
        if stored is None:
            raise DeliveryConflict(f"event {event.source}/{event.id} was already accepted")
        # An event addressed to this instance cannot satisfy another one: no need to look.
        if stored.target != instance_id and any(
                i.instance_id != instance_id and accepts(i, stored) for i in self._waiting_for(stored)):
            raise DeliveryConflict(f"event {event.source}/{event.id} satisfies other instances too")
        return Step(delivery.wait_seq, "event", delivery.step_name, stored.to_plain())

    def waiting_candidates(self, event: EventInput) -> tuple[list[Instance], bool]:
        """Instances waiting for this type that the event may satisfy (read only; a hint), and
        whether it is stored already. A targeted event asks both in one statement."""
        if event.target is not None:
            rows = self._run(self.q.target_probe, (event.source, event.id, event.target, WAITING_FOR_EVENT,
                                                   _AFTER_ALL, event.source, event.id)).fetchall()
            found = [self._instance(row[:-1]) for row in rows]
            return [i for i in found if i.wait is not None and event.type in i.wait.event_types], \
                any(row[-1] for row in rows)
        provisional = StoredEvent(_AFTER_ALL, event.type, event.source, event.id, 0.0, event.data,
                                  extensions=dict(event.extensions))
        found = self._waiting_for(provisional)
        return found, bool(found) and self._one(self.q.event_seq, (event.source, event.id)) is not None

    def _insert_event(self, event: EventInput, now: float) -> Optional[StoredEvent]:
        """Store a new event; None when (source, id) was accepted before."""
        row = self._one(self.q.insert_event, (
            event.source, event.id, event.type, event.subject, event.time, dumps(event.data),
            event.data_content_type, event.data_schema,
            dumps(event.extensions) if event.extensions else None, event.target, now))
        if row is None:
            return None
        seq = row[0]
        return StoredEvent(seq, event.type, event.source, event.id, now, event.data, event.subject,
                           event.time, event.data_content_type, event.data_schema, dict(event.extensions))

    def _late_event(self, commit: Commit) -> Optional[StoredEvent]:
        """The earliest stored event that satisfies the commit's event wait, if one arrived already."""
        wait = commit.transition.wait
        iid, types = commit.instance_id, wait.event_types  # type: ignore[union-attr]
        for event_type in sorted(types):  # one order for every worker: no deadlock between two waits
            self._lock_event_type(event_type)
        for row in self._run(self.q.find_events(len(types)), (*types, commit.event_floor, iid)):
            if (row[2], row[3]) not in commit.consumed:
                event = self._event(row)
                if satisfies(event, iid, types, wait.match) and not (  # type: ignore[union-attr]
                        wait.competing and event.target is None and self._taken_competing(event.seq)):  # type: ignore[union-attr]
                    return event
        return None

    def _taken_competing(self, seq: int) -> bool:
        """Whether a competing wait took the event already: then no other competing wait may."""
        return any(json.loads(result).get("competing") for (result,) in self._run(self.q.event_takers, (seq,)))

    def _apply(self, instance_id: str, owner: str, steps: list[Step], transition: Transition,
               now: float, lease_until: float, delivery: Optional[PendingDelivery] = None,
               delivered: Optional[list[str]] = None,
               starts: Optional[dict[tuple[str, str], list[Instance]]] = None,
               extra: Optional[Commit] = None) -> None:
        """`extra`: the commit's children (inserted) and events besides its steps' (published)."""
        values = transition_values(transition, now, owner, lease_until)
        if delivery is not None:  # the instance must still wait where the run delivered the event
            cursor = self._run(self.q.apply_delivered, (*values, instance_id, WAITING_FOR_EVENT, delivery.wait_seq))
            if cursor.rowcount != 1:
                raise DeliveryConflict(f"instance {instance_id} no longer waits at step {delivery.wait_seq}")
        elif self._run(self.q.apply, (*values, instance_id, owner)).rowcount != 1:
            raise LeaseLost(instance_id)
        if delivery is not None and "|" in delivery.step_name:  # it filled a wait for several types
            self._end_more_types([instance_id])
        self._insert_steps([_step_values(instance_id, s) for s in self._placed(instance_id, steps)])
        if transition.wait is not None and transition.wait.more_types:
            self._index_more_types(instance_id, transition.wait)
        targets = relay_targets(steps)
        for event in published_events(steps):
            key = (event.source, event.id)
            self._publish(event, now, owner, lease_until, delivered, (starts or {}).get(key, []), targets.get(key))
        if extra is not None and extra.children:
            self._start_children(extra, now, owner, lease_until, delivered)
        if extra is not None and extra.release is not None and transition.status in (COMPLETED, FAILED, CANCELLED):
            promoted = self._promote(extra.release, now, owner if delivered is not None else None, lease_until)
            if delivered is not None:  # a slot freed: the oldest queued instances start, run by this worker
                delivered.extend(promoted)
        for event in extra.events if extra is not None else ():
            self._publish(event, now, owner, lease_until, delivered, [])
        if transition.wait is not None and transition.wait.wake_at is not None:
            self.notify(f"wake:{transition.wait.wake_at}")

    def _index_more_types(self, instance_id: str, wait: Wait) -> None:
        self._end_more_types([instance_id])
        for event_type in wait.more_types:
            self._run(self.q.insert_wait_type, (instance_id, event_type, wait.seq))

    def _end_more_types(self, instance_ids: list[str]) -> None:
        """Forget the extra types of waits that ended (satisfied, timed out, cancelled)."""
        for instance_id in instance_ids:
            self._run(self.q.delete_wait_types, (instance_id,))

    # -- events ------------------------------------------------------------------

    def add_event(self, event: EventInput, now: float, owner: Optional[str], lease_until: float,
                  starts: Sequence[Instance] = (), receiver: Optional[Instance] = None) -> Delivery:
        with self._write():
            self._lock_event_type(event.type)
            self._share_event_floor()
            stored = self._insert_event(event, now)
            if stored is None:
                existing = self._one(self.q.event_seq, (event.source, event.id))
                return Delivery(event.id, existing[0], duplicate=True)
            satisfied = _compete([i for i in self._waiting_for(stored) if accepts(i, stored)], stored)
            self._satisfy(satisfied, stored, now, owner, lease_until)
            started = self._start(starts, stored.seq, owner, lease_until)
            if receiver is not None:  # its floor just below the event: its wait will take it
                started += self._start([receiver], stored.seq - 1, owner, lease_until)
            if (satisfied or started) and owner is None:  # runnable and unleased: some worker should take them
                self.notify("runnable")
        leased = tuple(replace(i, status=RUNNING, updated_at=now, wait=None, lease_owner=owner,
                               lease_until=lease_until) for i in satisfied + started) if owner else ()
        return Delivery(event.id, stored.seq, False, tuple(i.instance_id for i in satisfied), leased,
                        tuple(i.instance_id for i in started))

    def _start(self, starts: Sequence[Instance], event_seq: int, owner: Optional[str],
               lease_until: float) -> list[Instance]:
        """Insert the instances an event starts; their events are those stored after it. An id
        taken already (an instance started by hand with it) starts nothing."""
        started = []
        for instance in starts:
            instance = replace(instance, event_floor=event_seq, lease_owner=owner,
                               lease_until=lease_until if owner else None)
            if self._insert_instance_if_new(instance):
                started.append(instance)
        return started

    def _start_children(self, commit: Commit, now: float, owner: str, lease_until: float,
                        delivered: Optional[list[str]]) -> None:
        """Insert the children a parent's steps start, with those steps: leased to the parent's
        worker, which runs them next (`delivered`), or to none. A child whose id exists is
        attached to (it tells this parent when it ends), and one that ended already tells it now."""
        lessee = owner if delivered is not None else None
        fresh = [replace(c, lease_owner=lessee, lease_until=lease_until if lessee else None) for c in commit.children]
        started = [c for c in fresh if self._insert_child(c, commit, now, lessee, lease_until)]
        for child in fresh:
            if child not in started:
                self._attach(child, now, owner, lease_until, delivered)
        if delivered is not None:
            delivered.extend(c.instance_id for c in started)
        elif started:
            self.notify("runnable")

    def _insert_child(self, child: Instance, commit: Commit, now: float, lessee: Optional[str],
                      lease_until: float) -> bool:
        """Insert a child unless its id exists; one of a queue is admitted to it (maybe queued).
        True when it was inserted to run now."""
        spec = commit.queues.get(child.queue or "")
        if spec is None:
            return self._run(self.q.insert_instance_if_new, _instance_values(child)).rowcount == 1
        if self.get(child.instance_id) is not None:
            return False
        return self._admit(child, spec, now, lessee, lease_until).status == RUNNING

    def _attach(self, child: Instance, now: float, owner: str, lease_until: float,
                delivered: Optional[list[str]]) -> None:
        self._run(self.q.attach_child, (child.parent_id, child.parent_close, child.chain_id, child.instance_id))
        existing = self.get(child.instance_id)
        if existing is not None and existing.status in TERMINAL and existing.status != CONTINUED_AS_NEW:
            ended = child_ended(replace(existing, parent_id=child.parent_id, chain_id=child.chain_id),
                                existing.status, existing.output, existing.error)
            self._publish(ended, now, owner, lease_until, delivered, [])  # type: ignore[arg-type]

    def addressed_events(self, instance_id: str, event_type: str, floor: int) -> list[StoredEvent]:
        rows = self._run(self.q.addressed_events, (event_type, floor, instance_id)).fetchall()
        return [self._event(row) for row in rows]

    def children(self, instance_id: str) -> list[Instance]:
        return [self._instance(row) for row in self._run(self.q.children, (instance_id,)).fetchall()]

    def _publish(self, event: EventInput, now: float, owner: str, lease_until: float,
                 delivered: Optional[list[str]], starts: list[Instance], target: Optional[str] = None) -> None:
        """Store an event a run published, with the step that records it, satisfy its waits and
        start its `starts`: leased to the publishing worker, which resumes them (`delivered`), or
        to none. With a `target`, queue it for the relay (the outbox) in the same transaction."""
        self._lock_event_type(event.type)
        self._share_event_floor()
        stored = self._insert_event(event, now)
        if stored is None:  # published before under this source and id: a duplicate, like any other
            return
        if target is not None:
            self._queue_relay(stored.seq, target, now)
        lessee = owner if delivered is not None else None
        satisfied = _compete([i for i in self._waiting_for(stored) if accepts(i, stored)], stored)
        self._satisfy(satisfied, stored, now, lessee, lease_until)
        satisfied += self._start(starts, stored.seq, lessee, lease_until)
        if delivered is not None:
            delivered.extend(i.instance_id for i in satisfied)
        elif satisfied:
            self.notify("runnable")

    def _waiting_for(self, event: StoredEvent) -> list[Instance]:
        """Waiting instances this event may satisfy, found through the match index, not a scan."""
        key = (event.source, event.id)  # the waits of instances that took this (source, id) are left out
        if event.target is not None:
            rows = self._run(self.q.waiting_target, (event.target, WAITING_FOR_EVENT, event.seq, *key)).fetchall()
            found = [self._instance(row) for row in rows]
            return [i for i in found if i.wait is not None and event.type in i.wait.event_types]
        waiting = (WAITING_FOR_EVENT, event.type, event.seq)
        rows = self._run(self.q.waiting_more, (*waiting, *key)).fetchall()
        has_null, pairs = self._match_pairs(event, waiting)
        if has_null or pairs:
            sql = self.q.waiting_matched + self.q.match_clause(has_null, len(pairs))
            rows += self._run(sql, (*waiting, *key, *[v for pair in pairs for v in pair])).fetchall()
        return [self._instance(row) for row in rows]

    def _match_pairs(self, event: StoredEvent, waiting: tuple) -> tuple[bool, list[tuple[str, str]]]:
        """Whether broadcast waits exist, and the (paths, values) index entries this event fits."""
        has_null, pairs = False, []
        for (paths,) in self._run(self.q.match_keys, waiting).fetchall():
            if paths is None:
                has_null = True
                continue
            values = event_match_values(event.data, paths)
            if values is not None:
                pairs.append((paths, values))
        return has_null, pairs

    def _satisfy(self, instances: list[Instance], event: StoredEvent, now: float, owner: Optional[str],
                 lease_until: float) -> None:
        if not instances:
            return
        result = dumps(event.to_plain())
        self._insert_steps([(i.instance_id, i.wait.seq, "event", i.wait.step_name,  # type: ignore[union-attr]
                             dumps(_taken(event, i.wait)) if i.wait.competing else result)  # type: ignore[union-attr,arg-type]
                            for i in instances])
        self._end_more_types([i.instance_id for i in instances if i.wait.more_types])  # type: ignore[union-attr]
        self._make_runnable([i.instance_id for i in instances], now, owner, lease_until, clear_wait=True)

    def _make_runnable(self, ids: list[str], now: float, owner: Optional[str], lease_until: float,
                       clear_wait: bool) -> None:
        params = (RUNNING, now, owner, lease_until if owner else None, *ids)
        self._run(self.q.make_runnable(len(ids), clear_wait), params)

    # -- timers ------------------------------------------------------------------

    def fire_due(self, now: float, owner: str, lease_until: float, limit: int,
                 waits: Optional[dict[str, Wait]] = None) -> list[str]:
        if self._one(self.q.any_due, (*WAITING, now)) is None:
            return []  # the common case of a frequent loop: no write lock taken
        with self._write():
            due = [self._instance(row) for row in self._run(self.q.due, (*WAITING, now, limit)).fetchall()]
            if not due:
                return []
            self._insert_steps([row for row in (_fired_step(i, now) for i in due) if row is not None])
            self._end_more_types([i.instance_id for i in due if i.wait is not None and i.wait.more_types])
            ids = [i.instance_id for i in due]
            if waits is not None:
                waits.update((i.instance_id, i.wait) for i in due if i.wait is not None)
            # The retry marker stays on the row: the resumed run reads its attempt count.
            self._make_runnable(ids, now, owner, lease_until, clear_wait=False)
        return ids

    def cancel(self, instance_id: str, reason: str, now: float, compensate: bool = False) -> Instance:
        with self._write():
            row = self._one(self.q.lock_instance, (instance_id,))  # a concurrent completion must not turn cancelled
            if row is None:
                raise NotFoundError(f"no instance {instance_id!r}; `romancy status` lists instances")
            status = row[2]
            if status in TERMINAL:
                raise RomancyError(f"instance {instance_id} is already {status}; nothing to cancel")
            error = dumps({"type": "Cancelled", "message": reason})
            # To compensate, the instance is left runnable and leased to nobody: a worker's run
            # finds the request in `error` and undoes what was done (engine/compensation.py).
            self._run(self.q.cancel, (COMPENSATING if compensate else CANCELLED, error, now, False, instance_id))
            if compensate:
                self.notify("runnable")
            instance = self._instance(row)
            if instance.wait is not None and instance.wait.more_types:
                self._end_more_types([instance_id])
            ended = None if compensate else child_ended(instance, CANCELLED, error={"type": "Cancelled",
                                                                                   "message": reason})
            if ended is not None:  # its parent learns it in this transaction, to be resumed
                self._publish(ended, now, "", 0.0, None, [])
        return self.get(instance_id)  # type: ignore[return-value]

    def close(self) -> None:
        self.db.close()

    # -- wake-ups ----------------------------------------------------------------

    def notify(self, reason: str) -> None:
        """Tell waiting workers, when this transaction commits, that there is new work or a new wake
        time. SQLite: nothing to send, wait_for_wake sees the commit through data_version."""

    def listen(self) -> None:
        """Start watching for wake-ups now (wait_for_wake starts on first use otherwise)."""
        self._wake.version = self._data_version()

    def wait_for_wake(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for work another connection may have made; True if woken,
        at once when something happened since the previous call (or listen()).

        A wake-up is a hint: callers re-check (fire_due, runnable, next_wake). SQLite has no
        notifications, so this polls `PRAGMA data_version` every WAKE_POLL seconds: it is cheap and
        changes whenever another connection (another thread or process) commits. Per thread."""
        deadline = time.monotonic() + max(0.0, timeout)
        seen = getattr(self._wake, "version", None)
        while True:
            current = self._data_version()
            if seen is not None and current != seen:
                self._wake.version = current
                return True
            seen = self._wake.version = current
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(WAKE_POLL, left))

    def _data_version(self) -> int:
        return int(self.db.execute_sql("PRAGMA data_version").fetchone()[0])

    # -- dialect hooks -----------------------------------------------------------

    def _lock_event_type(self, event_type: str) -> None:
        """Serialise deliveries and suspensions of one event type (SQLite: the write lock does it)."""

    def _lock_event_floor(self) -> None:
        """Wait for events being stored to commit before reading the newest seq as a start floor,
        so no event with a lower seq commits after it (SQLite: writes are already serial)."""

    def _share_event_floor(self) -> None:
        """Held while storing an event: the counterpart of _lock_event_floor."""


def _compete(satisfied: list[Instance], event: StoredEvent) -> list[Instance]:
    """The instances an untargeted event goes to: every wait that is not competing, and of the
    competing ones only the one waiting longest (its wait began first: updated_at, then id)."""
    competing = [i for i in satisfied if i.wait is not None and i.wait.competing]
    if not competing or event.target is not None:
        return satisfied
    chosen = min(competing, key=lambda i: (i.updated_at, i.instance_id))
    return [i for i in satisfied if i not in competing or i is chosen]


def _taken(event: StoredEvent, wait: Wait) -> dict[str, Any]:
    """The result of the event step that fills `wait`: a competing wait's says so, for the
    competing waits after it not to take the event again (SqlStore._taken_competing)."""
    plain = event.to_plain()
    if wait.competing:
        plain["competing"] = True
    return plain


def transition_values(t: Transition, now: float, owner: str, lease_until: float) -> tuple[Any, ...]:
    """Values for queries.TRANSITION_COLUMNS."""
    wait = t.wait
    paths, values = match_index(wait.match if wait else None)
    return (
        t.status, now, t.parked,
        dumps(t.output) if t.status == COMPLETED else None,
        dumps(t.error) if t.error is not None else None,
        wait.kind if wait else None, wait.seq if wait else None, wait.event_type if wait else None,
        values, paths, wait.attempt if wait else 0, wait.wake_at if wait else None,
        owner if t.keep_lease else None, lease_until if t.keep_lease else None,
        dumps(list(wait.more_types)) if wait and wait.more_types else None,
        True if wait and wait.competing else None,
    )


def _instance_values(instance: Instance) -> tuple[Any, ...]:
    """Values for queries.insert_instance."""
    return (instance.instance_id, instance.workflow, instance.status, dumps(instance.args), dumps(instance.kwargs),
            instance.created_at, instance.updated_at, instance.event_floor, instance.lease_owner,
            instance.lease_until, False, instance.continued_from, instance.parent_id, instance.parent_close,
            instance.chain_id, instance.queue, instance.started_at, instance.trace)


def _step_values(instance_id: str, step: Step) -> tuple[str, int, str, str, str]:
    return (instance_id, step.seq, step.kind, step.name, dumps(step.result))


def _fired_step(instance: Instance, now: float) -> Optional[tuple[str, int, str, str, str]]:
    wait = instance.wait
    if wait is None or wait.kind == "retry":
        return None
    if wait.kind == "timer":
        step = Step(wait.seq, "timer", "sleep", {"fired_at": now})
    else:
        step = Step(wait.seq, "event", wait.step_name, {"timeout": True, "at": now})
    return _step_values(instance.instance_id, step)
