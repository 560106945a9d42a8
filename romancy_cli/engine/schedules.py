"""Firing schedules: each due slot becomes one step (ScheduleAdvance) that the store writes only
if the schedule is still as read (compare-and-set on its version), inserting the slot's instance,
whose id is derived from the slot, in that transaction. So two workers, two ticks, or a crash and
a retry never start a slot twice, and a slot is handled once its step commits, never before."""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Optional

from ..records import (BUFFERED, MISSED, RUNNING, SKIPPED, STARTED, TERMINAL, Instance, Schedule, ScheduleAdvance,
                       ScheduleRun)
from ..errors import NotFoundError, UsageError
from ..times import iso
from ..schedule_spec import ScheduleSpec, slot_instance_id, spec_from_plain

MISSED_KEPT = 100  # missed slots recorded at most per catch-up; older ones are only skipped over
DUE_BATCH = 100  # schedules read per round of a tick


def spec_of(schedule: Schedule) -> ScheduleSpec:
    return spec_from_plain(schedule.spec, schedule.timezone)


def jittered(schedule_id: str, slot: float, jitter: float) -> float:
    """When a slot is due: its time plus a delay up to `jitter`, the same for every worker."""
    if not jitter:
        return slot
    return slot + jitter * (zlib.crc32(f"{schedule_id}@{slot}".encode()) % 1000) / 1000


def first_slot(schedule: Schedule, after: float) -> tuple[Optional[float], Optional[float]]:
    """(slot, due_at) of the first slot strictly after `after`."""
    slot = spec_of(schedule).next_after(after)
    return slot, None if slot is None else jittered(schedule.schedule_id, slot, schedule.jitter)


Bind = Callable[[Schedule], "tuple[list, dict]"]  # a schedule's input as a run's (args, kwargs)


def slot_instance(schedule: Schedule, slot: float, now: float, bind: Bind) -> Instance:
    args, kwargs = bind(schedule)
    return Instance(slot_instance_id(schedule.schedule_id, slot, schedule.timezone), schedule.workflow, RUNNING,
                    args, kwargs, now, now)


def previous_running(schedule: Schedule, status_of: Callable[[str], Optional[str]]) -> bool:
    """Whether the last run this schedule started has not ended (a parked one has not)."""
    if schedule.last_instance is None:
        return False
    status = status_of(schedule.last_instance)
    return status is not None and status not in TERMINAL


def plan(schedule: Schedule, now: float, live_since: float, running: bool, bind: Bind) -> Optional[ScheduleAdvance]:
    """The next step of a schedule's firing at `now`, None when nothing is due. Slots due before
    `live_since` minus the catch-up window are missed (nothing fired them in time); a time-travel
    tick passes the real time as `live_since`, so the slots it jumps over run."""
    s = schedule
    if s.buffered is not None and not running:  # buffer_one: the previous run ended
        return ScheduleAdvance(s.schedule_id, s.version, s.next_slot, s.due_at, None,
                               (ScheduleRun(s.buffered, STARTED, _id(s, s.buffered)),),
                               slot_instance(s, s.buffered, now, bind), now)
    if s.next_slot is None or s.due_at is None or s.due_at > now:
        return None
    if s.due_at < min(now, live_since) - s.catchup_window:
        return _missed(s, min(now, live_since) - s.catchup_window)
    next_slot, due_at = first_slot(s, s.next_slot)
    return replace(_extra_step(s, s.next_slot, now, running, bind), next_slot=next_slot, due_at=due_at)


def _id(schedule: Schedule, slot: float) -> str:
    return slot_instance_id(schedule.schedule_id, slot, schedule.timezone)


def _missed(schedule: Schedule, cutoff: float) -> ScheduleAdvance:
    """Record the slots due before `cutoff` as missed (the first MISSED_KEPT of them) and move on
    to the first slot due at or after it."""
    runs: list[ScheduleRun] = []
    slot: Optional[float] = schedule.next_slot
    due = schedule.due_at
    while slot is not None and due is not None and due < cutoff and len(runs) < MISSED_KEPT:
        runs.append(ScheduleRun(slot, MISSED))
        slot, due = first_slot(schedule, slot)
    if slot is not None and due is not None and due < cutoff:  # more than MISSED_KEPT: jump over the rest
        slot, due = first_slot(schedule, cutoff - schedule.jitter - 1e-6)
        while slot is not None and due is not None and due < cutoff:
            slot, due = first_slot(schedule, slot)
    return ScheduleAdvance(schedule.schedule_id, schedule.version, slot, due, schedule.buffered, tuple(runs))


class Pass:
    """Since when this process has looked for due slots (its App's opening, then each pass, on the
    lease clock): slots due since then are on time, however late it runs them; slots older than
    that by more than the catch-up window were due while nothing looked, and are missed. Shared
    by an engine and its shifted copies."""

    def __init__(self, now: float) -> None:
        self.at = now


def fire_due(engine: "Engine", note: Callable[[str, Optional[str]], None]) -> None:
    """Handle the due slots of every schedule, in order, each started instance run before the
    next slot of its schedule is looked at (so that `skip` sees whether it ended)."""
    now, live = engine.clock.now(), engine.schedule_pass.at
    engine.schedule_pass.at = max(live, engine.lease_clock.now())
    for schedule in engine.store.due_schedules(now, DUE_BATCH):
        _fire(engine, schedule, now, live, note)


def _fire(engine: "Engine", schedule: Schedule, now: float, live: float,
          note: Callable[[str, Optional[str]], None]) -> None:
    status_of = _status_reader(engine)
    current: Optional[Schedule] = schedule
    running = previous_running(schedule, status_of)
    while current is not None and not current.paused:
        step = plan(current, now, live, running, engine.schedule_input)
        if step is None:
            return
        _, until = engine._lease()
        if not engine.store.advance_schedule(step, now, engine.owner, until):
            current = engine.store.get_schedule(schedule.schedule_id)  # another worker moved it
            running = current is not None and previous_running(current, status_of)
            continue
        current = _after(current, step)
        if step.start is not None:
            status = engine.resume(step.start.instance_id)
            note(step.start.instance_id, status)
            running = (status or status_of(step.start.instance_id)) not in TERMINAL


def _after(schedule: Schedule, step: ScheduleAdvance) -> Schedule:
    return replace(schedule, next_slot=step.next_slot, due_at=step.due_at, buffered=step.buffered,
                   last_instance=step.start.instance_id if step.start else schedule.last_instance,
                   version=schedule.version + 1)


def _status_reader(engine: "Engine") -> Callable[[str], Optional[str]]:
    def status_of(instance_id: str) -> Optional[str]:
        instance = engine.store.get(instance_id)
        return None if instance is None else instance.status
    return status_of


def trigger(engine: "Engine", schedule_id: str) -> ScheduleRun:
    """One run now, as a slot at this moment (to the millisecond), the overlap policy applying."""
    now = engine.clock.now()
    return _extra_slots(engine, schedule_id, [math.floor(now * 1000) / 1000])[0]


def backfill(engine: "Engine", schedule_id: str, start: float, end: float, limit: int) -> list[ScheduleRun]:
    """Each slot from `start` to `end` (both included) in order, the overlap policy applying;
    slots whose instance exists already are left as they are. UsageError past `limit` slots."""
    schedule = _get(engine, schedule_id)
    spec, slots = spec_of(schedule), []
    slot = spec.next_after(start - 1e-6)
    while slot is not None and slot <= end:
        if len(slots) == limit:
            raise UsageError(f"backfill of {schedule_id}: more than {limit} slots from {iso(start)} to "
                             f"{iso(end)}; give a shorter range")
        slots.append(slot)
        slot = spec.next_after(slot)
    return _extra_slots(engine, schedule_id, slots)


def _extra_slots(engine: "Engine", schedule_id: str, slots: list[float]) -> list[ScheduleRun]:
    """Slots outside the schedule's own sequence (trigger, backfill): each recorded, its
    instance started and run unless the overlap policy holds it back; the cursor is left alone."""
    status_of, done = _status_reader(engine), []
    for slot in slots:
        while True:
            schedule = _get(engine, schedule_id)
            iid = _id(schedule, slot)
            existing = status_of(iid)
            if existing is not None:
                done.append(ScheduleRun(slot, STARTED, iid, existing))
                break
            step = _extra_step(schedule, slot, engine.clock.now(), previous_running(schedule, status_of),
                               engine.schedule_input)
            _, until = engine._lease()
            if engine.store.advance_schedule(step, engine.clock.now(), engine.owner, until):
                status = engine.resume(iid) if step.start is not None else None
                done.append(replace(step.runs[0], status=status or step.runs[0].outcome))
                break
    return done


def _extra_step(s: Schedule, slot: float, now: float, running: bool, bind: Bind) -> ScheduleAdvance:
    """Slot `slot` under the overlap policy; the schedule's own cursor unchanged."""
    if running and s.overlap != "allow_all":
        if s.overlap == "buffer_one" and s.buffered is None:
            return ScheduleAdvance(s.schedule_id, s.version, s.next_slot, s.due_at, slot,
                                   (ScheduleRun(slot, BUFFERED),))
        return ScheduleAdvance(s.schedule_id, s.version, s.next_slot, s.due_at, s.buffered,
                               (ScheduleRun(slot, SKIPPED),))
    return ScheduleAdvance(s.schedule_id, s.version, s.next_slot, s.due_at, s.buffered,
                           (ScheduleRun(slot, STARTED, _id(s, slot)),), slot_instance(s, slot, now, bind), now)


def _get(engine: "Engine", schedule_id: str) -> Schedule:
    schedule = engine.store.get_schedule(schedule_id)
    if schedule is None:
        raise NotFoundError(f"no schedule {schedule_id!r}; `romancy schedule list` lists them")
    return schedule


if TYPE_CHECKING:
    from .engine import Engine
