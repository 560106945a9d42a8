"""Schedules (schema 9): their rows, the slots each handled, and the firing's compare-and-set
step, which records a slot and inserts its instance in one transaction."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Optional, Sequence

from ..codec import dumps
from ..records import RUNNING, Schedule, ScheduleAdvance, ScheduleRun

KEPT_RUNS = 100  # slots remembered per schedule (`recent`); older ones are deleted as new ones come

_SETTINGS = ("workflow", "spec", "timezone", "input", "overlap", "catchup_window", "jitter", "paused",
             "note", "source", "next_slot", "due_at", "buffered", "last_instance", "last_fired_at")
_COLUMNS = ("schedule_id", *_SETTINGS, "created_at", "updated_at", "version")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM romancy_schedules"


def _row_values(schedule: Schedule) -> tuple[Any, ...]:
    s = schedule
    return (s.workflow, dumps(s.spec), s.timezone, dumps(s.input), s.overlap, s.catchup_window, s.jitter,
            int(s.paused), s.note, s.source, s.next_slot, s.due_at, s.buffered, s.last_instance, s.last_fired_at)


def _schedule(row: Sequence[Any]) -> Schedule:
    (schedule_id, workflow, spec, timezone, input_, overlap, catchup, jitter, paused, note, source, next_slot,
     due_at, buffered, last_instance, last_fired_at, created_at, updated_at, version) = row
    return Schedule(schedule_id, workflow, json.loads(spec), timezone, json.loads(input_), overlap, catchup, jitter,
                    bool(paused), note, source, next_slot, due_at, buffered, last_instance, last_fired_at,
                    created_at, updated_at, version)


class Schedules:
    """Mixed into SqlStore, whose _run, _one, _write, q, notify and instance helpers it uses."""

    def create_schedule(self: Any, schedule: Schedule) -> bool:
        """Insert a schedule; False when its id exists (nothing written)."""
        with self._write():
            cursor = self._run(self.q._p(
                f"INSERT INTO romancy_schedules ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
                "ON CONFLICT (schedule_id) DO NOTHING"),
                (schedule.schedule_id, *_row_values(schedule), schedule.created_at, schedule.updated_at, 0))
            if cursor.rowcount == 1 and schedule.due_at is not None:
                self.notify(f"wake:{schedule.due_at}")
            return cursor.rowcount == 1

    def update_schedule(self: Any, schedule: Schedule) -> bool:
        """Write every setting and the firing state, a new version, if the schedule is still at
        `schedule.version`; False otherwise (unknown, or changed meanwhile)."""
        with self._write():
            cursor = self._run(self.q._p(
                "UPDATE romancy_schedules SET " + ", ".join(f"{c} = ?" for c in _SETTINGS)
                + ", updated_at = ?, version = version + 1 WHERE schedule_id = ? AND version = ?"),
                (*_row_values(schedule), schedule.updated_at, schedule.schedule_id, schedule.version))
            if cursor.rowcount == 1 and schedule.due_at is not None and not schedule.paused:
                self.notify(f"wake:{schedule.due_at}")
            return cursor.rowcount == 1

    def delete_schedule(self: Any, schedule_id: str) -> bool:
        """Delete a schedule and its recorded slots (its instances stay); False when unknown."""
        with self._write():
            self._run(self.q._p("DELETE FROM romancy_schedule_runs WHERE schedule_id = ?"), (schedule_id,))
            return self._run(self.q._p("DELETE FROM romancy_schedules WHERE schedule_id = ?"),
                             (schedule_id,)).rowcount == 1

    def get_schedule(self: Any, schedule_id: str) -> Optional[Schedule]:
        row = self._one(self.q._p(_SELECT + " WHERE schedule_id = ?"), (schedule_id,))
        return _schedule(row) if row else None

    def list_schedules(self: Any) -> list[Schedule]:
        return [_schedule(row) for row in self._run(_SELECT + " ORDER BY schedule_id").fetchall()]

    def due_schedules(self: Any, now: float, limit: int) -> list[Schedule]:
        """Active schedules with a slot due, or a buffered slot waiting for its previous run."""
        rows = self._run(self.q._p(_SELECT + " WHERE paused = 0 AND (due_at <= ? OR buffered IS NOT NULL) "
                                   "ORDER BY due_at LIMIT ?"), (now, limit)).fetchall()
        return [_schedule(row) for row in rows]

    def next_schedule_due(self: Any) -> Optional[float]:
        return self._one("SELECT MIN(due_at) FROM romancy_schedules WHERE paused = 0 AND due_at IS NOT NULL")[0]

    def advance_schedule(self: Any, step: ScheduleAdvance, now: float, owner: str, lease_until: float) -> bool:
        """Record a step of the firing if the schedule is still at `step.version`, in one
        transaction: its new state, the slots handled, and its instance (inserted running, leased
        to `owner`, unless that slot's id exists). False, nothing written, when another worker
        or command changed the schedule first."""
        with self._write():
            started = step.start.instance_id if step.start is not None else None
            cursor = self._run(self.q._p(
                "UPDATE romancy_schedules SET next_slot = ?, due_at = ?, buffered = ?, "
                "last_instance = COALESCE(?, last_instance), last_fired_at = COALESCE(?, last_fired_at), "
                "version = version + 1 WHERE schedule_id = ? AND version = ?"),
                (step.next_slot, step.due_at, step.buffered, started, step.fired_at, step.schedule_id, step.version))
            if cursor.rowcount != 1:
                return False
            for run in step.runs:
                self._record_run(step.schedule_id, run, now)
            if step.start is not None:
                instance = replace(step.start, status=RUNNING, event_floor=self.start_floor(), lease_owner=owner,
                                   lease_until=lease_until)
                self._insert_instance_if_new(instance)
            if step.runs:
                self._trim_runs(step.schedule_id)
            return True

    def _record_run(self: Any, schedule_id: str, run: ScheduleRun, now: float) -> None:
        """A slot handled again (backfill of a missed one) takes its new outcome."""
        self._run(self.q._p(
            "INSERT INTO romancy_schedule_runs (schedule_id, slot, outcome, instance_id, recorded_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule_id, slot) DO UPDATE SET outcome = excluded.outcome, "
            "instance_id = excluded.instance_id, recorded_at = excluded.recorded_at"),
            (schedule_id, run.slot, run.outcome, run.instance_id, now))

    def _trim_runs(self: Any, schedule_id: str) -> None:
        self._run(self.q._p(
            "DELETE FROM romancy_schedule_runs WHERE schedule_id = ? AND slot < (SELECT slot FROM "
            "romancy_schedule_runs WHERE schedule_id = ? ORDER BY slot DESC LIMIT 1 OFFSET ?)"),
            (schedule_id, schedule_id, KEPT_RUNS - 1))

    def schedule_runs(self: Any, schedule_id: str, limit: int) -> list[ScheduleRun]:
        """The newest `limit` handled slots, newest first, with their instances' statuses now."""
        rows = self._run(self.q._p(
            "SELECT r.slot, r.outcome, r.instance_id, i.status, i.parked FROM romancy_schedule_runs r "
            "LEFT JOIN romancy_instances i ON i.instance_id = r.instance_id WHERE r.schedule_id = ? "
            "ORDER BY r.slot DESC LIMIT ?"), (schedule_id, limit)).fetchall()
        return [ScheduleRun(slot, outcome, iid, "parked" if parked else status or outcome)
                for slot, outcome, iid, status, parked in rows]

