"""Queues (schema 9): an instance of a queue holds a slot from its start to its end; one that
finds its queue full is inserted `queued` and started, oldest first, when a slot frees. Every
admission and promotion of one queue holds that queue's lock (SQLite: the write lock; PostgreSQL:
an advisory lock), so the limits hold across processes; queued rows are claimed with
`SKIP LOCKED` on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional, Sequence

import peewee as pw

from ..records import QUEUED, RUNNING, TERMINAL, Instance, QueueSpec, QueueState

_HELD = tuple(sorted(TERMINAL | {QUEUED}))  # statuses that hold no slot


class QueueSql:
    """The SQL of the queues, for one driver's placeholder style."""

    def __init__(self, p: Any, claim: str) -> None:
        held = ", ".join(f"'{s}'" for s in _HELD)
        self.running = p(f"SELECT COUNT(*) FROM romancy_instances WHERE queue = ? AND status NOT IN ({held})")
        self.started = p("SELECT started_at FROM romancy_instances WHERE queue = ? AND started_at > ? "
                         "ORDER BY started_at")
        self.oldest = p(f"SELECT instance_id FROM romancy_instances WHERE queue = ? AND status = '{QUEUED}' "
                        "ORDER BY created_at, instance_id LIMIT ?" + claim)
        self.queued = p(f"SELECT COUNT(*), MIN(created_at) FROM romancy_instances WHERE queue = ? "
                        f"AND status = '{QUEUED}'")
        self.wake = p(f"UPDATE romancy_instances SET wake_at = ? WHERE queue = ? AND status = '{QUEUED}'")

    def promote(self, p: Any, count: int) -> str:
        return p(f"UPDATE romancy_instances SET status = '{RUNNING}', started_at = ?, updated_at = ?, "
                 "wake_at = NULL, lease_owner = ?, lease_until = ? "
                 f"WHERE instance_id IN ({', '.join(['?'] * count)})")


class Queues:
    """Mixed into SqlStore: admission at a start, promotion when a slot frees, and counts."""

    db: pw.Database

    def _queue_sql(self) -> QueueSql:
        sql = getattr(self, "_qsql", None)
        if sql is None:
            sql = self._qsql = QueueSql(self.q._p, self.CLAIM_SQL)  # type: ignore[attr-defined]
        return sql

    def admit(self, instance: Instance, spec: QueueSpec, now: float, owner: str, lease_until: float) -> Instance:
        """Insert a new instance of `spec`'s queue in one transaction: running and leased to
        `owner` when a slot is free, else queued. InstanceExists when its id is taken."""
        with self._write():  # type: ignore[attr-defined]
            return self._admit(instance, spec, now, owner, lease_until)

    def _admit(self, instance: Instance, spec: QueueSpec, now: float, owner: Optional[str],
               lease_until: float) -> Instance:
        """Inside the caller's transaction (a child is admitted with its parent's step)."""
        self._lock_queue(spec.name)
        free, _ = self._free(spec, now)
        if free > 0:
            admitted = replace(instance, status=RUNNING, queue=spec.name, started_at=now, lease_owner=owner,
                               lease_until=lease_until if owner else None)
        else:
            admitted = replace(instance, status=QUEUED, queue=spec.name, started_at=None, lease_owner=None,
                               lease_until=None)
        self._insert_instance(admitted)  # type: ignore[attr-defined]
        if free <= 0:
            self._mark_wake(spec, now)
        return admitted

    def promote(self, spec: QueueSpec, now: float, owner: Optional[str], lease_until: float) -> list[str]:
        """Start the oldest queued instances that fit; returns their ids (leased to `owner`)."""
        if not self._one(self._queue_sql().queued, (spec.name,))[0]:  # type: ignore[attr-defined]
            return []  # nothing queued (a tick's usual case): no write
        with self._write():  # type: ignore[attr-defined]
            return self._promote(spec, now, owner, lease_until)

    def _promote(self, spec: QueueSpec, now: float, owner: Optional[str], lease_until: float) -> list[str]:
        self._lock_queue(spec.name)
        free, _ = self._free(spec, now)
        if free <= 0:
            self._mark_wake(spec, now)
            return []
        sql = self._queue_sql()
        ids = [row[0] for row in self._run(sql.oldest, (spec.name, min(free, 1000))).fetchall()]  # type: ignore[attr-defined]
        if ids:
            self._run(sql.promote(self.q._p, len(ids)),  # type: ignore[attr-defined]
                      (now, now, owner, lease_until if owner else None, *ids))
            self._mark_wake(spec, now)
            if owner is None:
                self.notify("runnable")  # type: ignore[attr-defined]
        return ids

    def _free(self, spec: QueueSpec, now: float) -> tuple[float, Optional[float]]:
        """How many more may start now, and, when the rate is what stops them, when one may."""
        sql = self._queue_sql()
        free = float("inf")
        if spec.concurrency is not None:
            free = spec.concurrency - self._one(sql.running, (spec.name,))[0]  # type: ignore[attr-defined]
        wake = None
        if spec.rate is not None:
            count, window = spec.rate
            started = [row[0] for row in self._run(sql.started, (spec.name, now - window)).fetchall()]  # type: ignore[attr-defined]
            if len(started) >= count:
                wake = started[len(started) - count] + window  # when the oldest start that counts leaves the window
            free = min(free, count - len(started))
        return free, wake

    def _mark_wake(self, spec: QueueSpec, now: float) -> None:
        """The queued instances' wake_at: when the rate lets the next one start (next_wake, tick)."""
        if spec.rate is None:
            return
        _, wake = self._free(spec, now)
        self._run(self._queue_sql().wake, (wake, spec.name))  # type: ignore[attr-defined]
        if wake is not None:
            self.notify(f"wake:{wake}")  # type: ignore[attr-defined]

    def queue_states(self, specs: Sequence[QueueSpec]) -> list[QueueState]:
        sql, states = self._queue_sql(), []
        for spec in specs:
            queued, oldest = self._one(sql.queued, (spec.name,))  # type: ignore[attr-defined]
            running = self._one(sql.running, (spec.name,))[0]  # type: ignore[attr-defined]
            states.append(QueueState(spec, int(queued or 0), int(running or 0), oldest))
        return states

    def _lock_queue(self, name: str) -> None:
        """Serialise admissions and promotions of one queue (SQLite: the write lock does it)."""
