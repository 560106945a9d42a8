"""The Store on peewee, shared by SQLite and PostgreSQL. Plain records in, plain records out."""

from __future__ import annotations

import json
import operator
import threading
import time
from dataclasses import replace
from functools import reduce
from typing import Any, Callable, Iterable, Optional

import peewee as pw

from ..codec import dumps
from ..errors import NotFoundError, RomancyError
from ..records import (CANCELLED, RUNNING, TERMINAL, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Delivery,
                       EventInput, Instance, Step, StoredEvent, Transition, Wait)
from ..engine.matching import event_match_values, match_index
from ..engine.ports import Accepts, LeaseLost
from .models import make_models

WAITING = (WAITING_FOR_EVENT, WAITING_FOR_TIMER)
WAKE_POLL = 0.05  # seconds between SQLite data_version checks in wait_for_wake


def _loads(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


class SqlStore:
    """Implements engine.ports.Store. Dialect differences are the three hooks at the end."""

    def __init__(self, db: pw.Database, location: str) -> None:
        self.db = db
        self.location = location
        self.m = make_models(db)
        self._wake = threading.local()  # SQLite wait_for_wake: the data_version last seen per thread

    # -- conversions -------------------------------------------------------------

    def _instance(self, row: dict[str, Any]) -> Instance:
        wait = None
        if row["wait_kind"] is not None:
            wait = Wait(row["wait_kind"], row["wait_seq"], row["wait_event_type"],
                        _loads(row["wait_match"]), row["wake_at"], row["wait_attempt"])
        return Instance(
            row["instance_id"], row["workflow"], row["status"], json.loads(row["args"]),
            json.loads(row["kwargs"]), row["created_at"], row["updated_at"], _loads(row["output"]),
            _loads(row["error"]), wait, row["event_floor"], bool(row["parked"]), row["lease_owner"],
            row["lease_until"],
        )

    def _event(self, row: dict[str, Any]) -> StoredEvent:
        return StoredEvent(
            row["seq"], row["type"], row["source"], row["event_id"], row["received_at"],
            _loads(row["data"]), row["subject"], row["time"], row["data_content_type"],
            row["data_schema"], _loads(row["extensions"]) or {},
        )

    @staticmethod
    def _step_row(instance_id: str, step: Step) -> dict[str, Any]:
        return {"instance_id": instance_id, "seq": step.seq, "kind": step.kind, "name": step.name,
                "result": dumps(step.result)}

    def _row(self, instance_id: str, lock: bool = False) -> Optional[dict[str, Any]]:
        I = self.m.Instance
        query = I.select().where(I.instance_id == instance_id)
        return (self._lock_rows(query) if lock else query).dicts().first()

    # -- instances ---------------------------------------------------------------

    def create_instance(self, instance: Instance) -> tuple[Instance, bool]:
        I, E = self.m.Instance, self.m.Event
        try:
            with self.db.atomic():
                self._lock_event_floor()
                floor = E.select(pw.fn.MAX(E.seq)).scalar() or 0
                I.insert(
                    instance_id=instance.instance_id, workflow=instance.workflow, status=instance.status,
                    args=dumps(instance.args), kwargs=dumps(instance.kwargs),
                    created_at=instance.created_at, updated_at=instance.updated_at, event_floor=floor,
                    lease_owner=instance.lease_owner, lease_until=instance.lease_until,
                ).execute()
        except pw.IntegrityError:
            existing = self.get(instance.instance_id)
            if existing is None:
                raise
            return existing, False
        return replace(instance, event_floor=floor), True

    def get(self, instance_id: str) -> Optional[Instance]:
        row = self._row(instance_id)
        return self._instance(row) if row else None

    def history(self, instance_id: str) -> list[Step]:
        S = self.m.Step
        rows = S.select(S.seq, S.kind, S.name, S.result).where(S.instance_id == instance_id).order_by(S.seq).tuples()
        return [Step(seq, kind, name, json.loads(result)) for seq, kind, name, result in rows]

    def list_instances(self, status: Optional[str] = None, workflow: Optional[str] = None,
                       limit: Optional[int] = None) -> list[Instance]:
        I = self.m.Instance
        query = I.select().order_by(I.created_at.desc(), I.instance_id.desc())
        if status:
            query = query.where(I.status == status)
        if workflow:
            query = query.where(I.workflow == workflow)
        if limit:
            query = query.limit(limit)
        return [self._instance(row) for row in query.dicts()]

    def claim(self, instance_id: str, owner: str, now: float, lease_until: float,
              include_parked: bool = False, steal_from: Optional[str] = None) -> Optional[tuple[Instance, list[Step]]]:
        row = self._row(instance_id)
        if row is None or row["status"] != RUNNING or (row["parked"] and not include_parked):
            return None
        instance = self._instance(row)
        if not (row["lease_owner"] == owner and (row["lease_until"] or 0) >= now):
            if not self._take_lease(instance_id, owner, now, lease_until, include_parked, steal_from):
                return None
            instance = replace(instance, lease_owner=owner, lease_until=lease_until)
        return instance, self.history(instance_id)

    def _take_lease(self, instance_id: str, owner: str, now: float, lease_until: float,
                    include_parked: bool, steal_from: Optional[str]) -> bool:
        I = self.m.Instance
        unleased = I.lease_owner.is_null() | (I.lease_until < now) | (I.lease_owner == owner)
        if steal_from is not None:
            unleased |= I.lease_owner == steal_from
        cond = (I.instance_id == instance_id) & (I.status == RUNNING) & unleased
        if not include_parked:
            cond &= I.parked == False  # noqa: E712 (peewee expression)
        with self.db.atomic():
            # PostgreSQL: a row another worker is locking is skipped (not waited for): not ours now.
            free = self._claim_rows(I.select(I.instance_id).where(cond))
            taken = I.update(lease_owner=owner, lease_until=lease_until).where(I.instance_id.in_(free)).execute()
            return taken == 1

    def runnable(self, limit: int, include_parked: bool) -> list[Instance]:
        I = self.m.Instance
        query = I.select().where(I.status == RUNNING)
        if not include_parked:
            query = query.where(I.parked == False)  # noqa: E712
        return [self._instance(row) for row in query.order_by(I.updated_at).limit(limit).dicts()]

    def next_wake(self) -> Optional[float]:
        I = self.m.Instance
        return I.select(pw.fn.MIN(I.wake_at)).where(I.status.in_(WAITING)).scalar()

    # -- commits -----------------------------------------------------------------

    def commit(self, instance_id: str, owner: str, steps: list[Step], transition: Transition, now: float,
               lease_until: float, accepts: Optional[Callable[[StoredEvent], bool]] = None,
               exclude: frozenset[int] = frozenset()) -> Optional[StoredEvent]:
        with self.db.atomic():
            wait = transition.wait
            if accepts is not None and wait is not None and wait.event_type is not None:
                self._lock_event_type(wait.event_type)
                event = self._late_event(instance_id, wait, exclude, accepts)
                if event is not None:
                    steps = steps + [Step(wait.seq, "event", wait.event_type, event.to_plain())]
                    transition = Transition(RUNNING, keep_lease=True)
                self._apply(instance_id, owner, steps, transition, now, lease_until)
                return event
            self._apply(instance_id, owner, steps, transition, now, lease_until)
            return None

    def _late_event(self, instance_id: str, wait: Wait, exclude: frozenset[int],
                    accepts: Callable[[StoredEvent], bool]) -> Optional[StoredEvent]:
        instance = self.get(instance_id)
        if instance is None:
            return None
        return self.find_event(instance, wait.event_type or "", set(exclude), accepts)

    def _apply(self, instance_id: str, owner: str, steps: list[Step], transition: Transition,
               now: float, lease_until: float) -> None:
        I = self.m.Instance
        fields = _transition_fields(transition, now, owner, lease_until)
        mine = (I.instance_id == instance_id) & (I.lease_owner == owner) & (I.status == RUNNING)
        if I.update(**fields).where(mine).execute() != 1:
            raise LeaseLost(instance_id)
        if steps:
            self.m.Step.insert_many([self._step_row(instance_id, s) for s in steps]).execute()
        if transition.wait is not None and transition.wait.wake_at is not None:
            self.notify(f"wake:{transition.wait.wake_at}")

    # -- events ------------------------------------------------------------------

    def find_event(self, instance: Instance, event_type: str, exclude: set[int],
                   accepts: Callable[[StoredEvent], bool]) -> Optional[StoredEvent]:
        E = self.m.Event
        query = (E.select().where((E.type == event_type) & (E.seq > instance.event_floor)
                                  & (E.target.is_null() | (E.target == instance.instance_id)))
                 .order_by(E.seq))
        for row in query.dicts().iterator():
            if row["seq"] not in exclude:
                event = self._event(row)
                if accepts(event):
                    return event
        return None

    def add_event(self, event: EventInput, now: float, owner: Optional[str], lease_until: float,
                  accepts: Accepts) -> Delivery:
        E = self.m.Event
        with self.db.atomic():
            self._lock_event_type(event.type)
            self._share_event_floor()
            existing = E.select(E.seq).where((E.source == event.source) & (E.event_id == event.id)).scalar()
            if existing is not None:
                return Delivery(event.id, existing, duplicate=True)
            seq = E.insert(
                source=event.source, event_id=event.id, type=event.type, subject=event.subject,
                time=event.time, data=dumps(event.data), data_content_type=event.data_content_type,
                data_schema=event.data_schema, extensions=dumps(event.extensions) if event.extensions else None,
                target=event.target, received_at=now,
            ).execute()
            stored = StoredEvent(seq, event.type, event.source, event.id, now, event.data, event.subject,
                                 event.time, event.data_content_type, event.data_schema, dict(event.extensions))
            satisfied = [i for i in self._waiting_for(stored) if accepts(i, stored)]
            self._satisfy(satisfied, stored, now, owner, lease_until)
            if satisfied and owner is None:  # runnable and unleased: some worker should take them
                self.notify("runnable")
        return Delivery(event.id, seq, False, tuple(i.instance_id for i in satisfied))

    def _waiting_for(self, event: StoredEvent) -> Iterable[Instance]:
        """Waiting instances this event may satisfy, found through the match index, not a scan."""
        I = self.m.Instance
        waiting = ((I.status == WAITING_FOR_EVENT) & (I.wait_event_type == event.type)
                   & (I.event_floor < event.seq))
        if event.target is not None:
            query = I.select().where(waiting & (I.instance_id == event.target))
        else:
            found = self._match_condition(event, waiting)
            if found is None:
                return []
            query = I.select().where(waiting & found)
        return [self._instance(row) for row in self._lock_rows(query).dicts()]

    def _match_condition(self, event: StoredEvent, waiting: Any) -> Any:
        I = self.m.Instance
        conditions = []
        for (paths,) in I.select(I.wait_match_keys).distinct().where(waiting).tuples():
            if paths is None:
                conditions.append(I.wait_match_keys.is_null())
                continue
            values = event_match_values(event.data, paths)
            if values is not None:
                conditions.append((I.wait_match_keys == paths) & (I.wait_match == values))
        return reduce(operator.or_, conditions) if conditions else None

    def _satisfy(self, instances: list[Instance], event: StoredEvent, now: float, owner: Optional[str],
                 lease_until: float) -> None:
        if not instances:
            return
        I = self.m.Instance
        result = dumps(event.to_plain())
        rows = [{"instance_id": i.instance_id, "seq": i.wait.seq, "kind": "event",  # type: ignore[union-attr]
                 "name": event.type, "result": result} for i in instances]
        self.m.Step.insert_many(rows).execute()
        ids = [i.instance_id for i in instances]
        I.update(**_runnable_fields(now, owner, lease_until)).where(I.instance_id.in_(ids)).execute()

    # -- timers ------------------------------------------------------------------

    def fire_due(self, now: float, owner: str, lease_until: float, limit: int) -> list[str]:
        I = self.m.Instance
        with self.db.atomic():
            query = (I.select().where(I.status.in_(WAITING) & (I.wake_at <= now))
                     .order_by(I.wake_at).limit(limit))
            due = [self._instance(row) for row in self._claim_rows(query).dicts()]
            if not due:
                return []
            steps = [row for row in (_fired_step(i, now) for i in due) if row is not None]
            if steps:
                self.m.Step.insert_many(steps).execute()
            ids = [i.instance_id for i in due]
            fields = _runnable_fields(now, owner, lease_until, keep_wait=True)
            I.update(**fields).where(I.instance_id.in_(ids)).execute()
        return ids

    def cancel(self, instance_id: str, reason: str, now: float) -> Instance:
        I = self.m.Instance
        with self.db.atomic():
            row = self._row(instance_id, lock=True)  # a concurrent completion must not turn cancelled
            if row is None:
                raise NotFoundError(f"no instance {instance_id!r}; `romancy status` lists instances")
            if row["status"] in TERMINAL:
                raise RomancyError(f"instance {instance_id} is already {row['status']}; nothing to cancel")
            error = dumps({"type": "Cancelled", "message": reason})
            I.update(status=CANCELLED, error=error, updated_at=now, wake_at=None, lease_owner=None,
                     lease_until=None, parked=False).where(I.instance_id == instance_id).execute()
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

    def _lock_rows(self, query: pw.ModelSelect) -> pw.ModelSelect:
        """Lock rows read for update (SQLite: already serialised by BEGIN IMMEDIATE)."""
        return query

    def _claim_rows(self, query: pw.ModelSelect) -> pw.ModelSelect:
        """Rows to claim; other workers skip them (SQLite: already serialised)."""
        return query


def _transition_fields(t: Transition, now: float, owner: str, lease_until: float) -> dict[str, Any]:
    wait = t.wait
    paths, values = match_index(wait.match if wait else None)
    return {
        "status": t.status, "updated_at": now, "parked": t.parked,
        "output": dumps(t.output) if t.status == "completed" else None,
        "error": dumps(t.error) if t.error is not None else None,
        "wait_kind": wait.kind if wait else None, "wait_seq": wait.seq if wait else None,
        "wait_event_type": wait.event_type if wait else None,
        "wait_match": values, "wait_match_keys": paths,
        "wait_attempt": wait.attempt if wait else 0, "wake_at": wait.wake_at if wait else None,
        "lease_owner": owner if t.keep_lease else None,
        "lease_until": lease_until if t.keep_lease else None,
    }


def _runnable_fields(now: float, owner: Optional[str], lease_until: float, keep_wait: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": RUNNING, "updated_at": now, "wake_at": None,
                              "lease_owner": owner, "lease_until": lease_until if owner else None}
    if not keep_wait:
        fields.update(wait_kind=None, wait_seq=None, wait_event_type=None, wait_match=None, wait_match_keys=None,
                      wait_attempt=0)
    return fields


def _fired_step(instance: Instance, now: float) -> Optional[dict[str, Any]]:
    wait = instance.wait
    if wait is None or wait.kind == "retry":
        return None
    if wait.kind == "timer":
        step = Step(wait.seq, "timer", "sleep", {"fired_at": now})
    else:
        step = Step(wait.seq, "event", wait.event_type or "", {"timeout": True, "at": now})
    return SqlStore._step_row(instance.instance_id, step)
