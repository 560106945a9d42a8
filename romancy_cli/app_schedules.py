"""App's schedule operations (a mixin of App): create, update, pause, trigger, backfill, list,
and the schedules declared in code (`@workflow(..., schedule=...)`) kept in step with the database."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from .durations import Duration, to_seconds
from .errors import NotFoundError, UsageError, WorkflowDefinitionError
from .records import Schedule, ScheduleRun
from .schedule_spec import DEFAULT_CATCHUP, OVERLAPS, ScheduleSpec, make_spec, schedule_id_problem

if TYPE_CHECKING:
    from .definitions import Registry
    from .engine.engine import Engine
    from .engine.ports import Clock, Store

BACKFILL_LIMIT = 10_000  # slots per backfill: more is a typo of the range
RECENT = 10  # handled slots shown by describe and the JSON of a schedule
_UNSET: Any = object()


class ScheduleOps:
    """Needs App's store, engine, clock and registry."""

    store: "Store"
    engine: "Engine"
    clock: "Clock"
    registry: "Registry"

    def create_schedule(self, schedule_id: str, workflow: str, *, cron: Union[str, Sequence[str], None] = None,
                        every: Optional[Duration] = None, input: Optional[dict[str, Any]] = None,
                        timezone: Optional[str] = None, overlap: str = "skip",
                        catchup_window: Duration = DEFAULT_CATCHUP, jitter: Duration = 0.0,
                        note: Optional[str] = None, source: str = "cli") -> Schedule:
        """A new schedule, its first slot the first after now; UsageError when `schedule_id`
        exists (use update_schedule) or a setting is invalid, naming it."""
        _check_id(schedule_id)
        spec = make_spec(cron, every, timezone, "--cron" if cron is not None else "--every")
        now = self.clock.now()
        schedule = self._checked(Schedule(schedule_id, workflow, spec.plain(), spec.timezone, dict(input or {}),
                                          overlap, to_seconds(catchup_window, "--catchup-window"),
                                          to_seconds(jitter, "--jitter"), False, note, source,
                                          created_at=now, updated_at=now))
        schedule = self._placed(schedule, now)
        if not self.store.create_schedule(schedule):
            raise ScheduleExists(f"schedule {schedule_id!r} exists already; change it with `romancy schedule update "
                             f"{schedule_id}` or delete it first")
        return schedule

    def update_schedule(self, schedule_id: str, *, workflow: Optional[str] = None,
                        cron: Union[str, Sequence[str], None] = None, every: Optional[Duration] = None,
                        input: Optional[dict[str, Any]] = None, timezone: Optional[str] = None,
                        overlap: Optional[str] = None, catchup_window: Optional[Duration] = None,
                        jitter: Optional[Duration] = None, note: Any = _UNSET,
                        source: Optional[str] = None) -> Schedule:
        """Change the settings given (None: keep); a new spec, timezone or jitter moves the next
        slot to the first after now."""
        spec_changed = cron is not None or every is not None or timezone is not None
        window = None if catchup_window is None else to_seconds(catchup_window, "--catchup-window")
        delay = None if jitter is None else to_seconds(jitter, "--jitter")

        def change(old: Schedule) -> Schedule:
            new = replace(old, workflow=workflow or old.workflow, input=old.input if input is None else dict(input),
                          overlap=overlap or old.overlap, note=old.note if note is _UNSET else note,
                          source=source or old.source, updated_at=self.clock.now(),
                          catchup_window=old.catchup_window if window is None else window,
                          jitter=old.jitter if delay is None else delay)
            if spec_changed:
                spec = self._spec_of(old, cron, every, timezone)
                new = replace(new, spec=spec.plain(), timezone=spec.timezone)
            new = self._checked(new)
            return self._placed(new, new.updated_at) if spec_changed or new.jitter != old.jitter else new

        return self._change(schedule_id, change)

    def _spec_of(self, old: Schedule, cron: Any, every: Any, timezone: Optional[str]) -> ScheduleSpec:
        where = "--cron" if cron is not None else "--every"
        if cron is None and every is None:  # only the timezone changes
            cron, every = old.spec.get("cron"), old.spec.get("every")
        return make_spec(cron, every, timezone or old.timezone, where)

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule; the instances it started stay."""
        if not self.store.delete_schedule(schedule_id):
            raise _unknown(schedule_id)

    def pause_schedule(self, schedule_id: str, note: Optional[str] = None) -> Schedule:
        """Start nothing until unpaused; `note` (if given) says why."""
        return self._change(schedule_id, lambda old: replace(
            old, paused=True, note=old.note if note is None else note, updated_at=self.clock.now()))

    def unpause_schedule(self, schedule_id: str) -> Schedule:
        """Fire again; the slots missed while paused run only if they fall in the catch-up window."""
        def change(old: Schedule) -> Schedule:
            now = self.clock.now()
            new = replace(old, paused=False, updated_at=now)
            if old.due_at is not None and old.due_at < now - old.catchup_window:
                new = self._placed(new, now - old.catchup_window - 1e-6)
            return new

        return self._change(schedule_id, change)

    def trigger_schedule(self, schedule_id: str) -> ScheduleRun:
        """Start one run now (its slot: this moment), unless the overlap policy holds it back."""
        from .engine.schedules import trigger

        return trigger(self.engine, schedule_id)

    def backfill_schedule(self, schedule_id: str, start: float, end: float) -> list[ScheduleRun]:
        """Run each slot from `start` to `end` (epoch seconds, both included), in order, the
        overlap policy applying; slots that have their instance already are left as they are."""
        if end < start:
            raise UsageError("backfill: --end is before --start")
        from .engine.schedules import backfill

        return backfill(self.engine, schedule_id, start, end, BACKFILL_LIMIT)

    def get_schedule(self, schedule_id: str) -> Schedule:
        schedule = self.store.get_schedule(schedule_id)
        if schedule is None:
            raise _unknown(schedule_id)
        return schedule

    def list_schedules(self) -> list[Schedule]:
        return self.store.list_schedules()

    def schedule_runs(self, schedule_id: str, limit: int = RECENT) -> list[ScheduleRun]:
        """The newest handled slots of a schedule, newest first."""
        return self.store.schedule_runs(schedule_id, limit)

    def upcoming(self, schedule: Schedule, count: int = 5) -> list[float]:
        """The next `count` slots of a schedule from its next one (paused or not)."""
        from .schedule_spec import spec_from_plain

        if schedule.next_slot is None:
            return []
        return [schedule.next_slot] + spec_from_plain(schedule.spec, schedule.timezone).upcoming(
            schedule.next_slot, count - 1)

    def sync_schedules(self) -> list[str]:
        """Make the schedules declared in code (`@workflow(..., schedule=... | every=...)`) those of
        the database: create new ones, update changed ones, delete those no longer declared.
        The CLI calls it whenever it loads the workflow modules. Returns the ids it changed."""
        declared = {name: d.schedule for name, d in self.registry.workflows.items() if d.schedule is not None}
        stored = {s.schedule_id: s for s in self.store.list_schedules()}
        changed = []
        for name, spec in sorted(declared.items()):
            old = stored.get(name)
            if old is None:
                try:
                    self.create_schedule(name, name, cron=spec.cron or None, every=spec.every,
                                         timezone=spec.timezone, source="code")
                except ScheduleExists:  # another process loading the same code made it first
                    continue
            elif (old.source, old.workflow, old.spec, old.timezone) != ("code", name, spec.plain(), spec.timezone):
                self.update_schedule(name, workflow=name, cron=spec.cron or None, every=spec.every,
                                     timezone=spec.timezone, source="code")
            else:
                continue
            changed.append(name)
        for schedule_id, old in sorted(stored.items()):
            if old.source == "code" and schedule_id not in declared:
                self.store.delete_schedule(schedule_id)
                changed.append(schedule_id)
        return changed

    # -- helpers ---------------------------------------------------------------

    def _checked(self, schedule: Schedule) -> Schedule:
        if schedule.overlap not in OVERLAPS:
            raise UsageError(f"invalid --overlap {schedule.overlap!r}: use one of {', '.join(OVERLAPS)}")
        definition = self.registry.workflows.get(schedule.workflow)
        if definition is not None:  # a worker without the code starts it as stored
            try:
                definition.bind((), dict(schedule.input))
            except WorkflowDefinitionError as exc:
                raise UsageError(f"schedule {schedule.schedule_id}: its --input does not fit the workflow: "
                                 f"{exc}") from None
        return schedule

    def _placed(self, schedule: Schedule, after: float) -> Schedule:
        """The schedule with its next slot the first after `after`."""
        from .engine.schedules import first_slot

        slot, due = first_slot(schedule, after)
        return replace(schedule, next_slot=slot, due_at=due)

    def _change(self, schedule_id: str, change: Callable[[Schedule], Schedule]) -> Schedule:
        """Write `change(schedule)` if nobody changed the schedule meanwhile (a firing moves its
        slot); read it again and retry otherwise."""
        while True:
            new = change(self.get_schedule(schedule_id))
            if self.store.update_schedule(new):
                return replace(new, version=new.version + 1)


class ScheduleExists(UsageError):
    """create_schedule of an id that exists: an input error (exit 2), `update` changes it."""


def _check_id(schedule_id: str) -> None:
    problem = schedule_id_problem(schedule_id)
    if problem:
        raise UsageError(f"invalid schedule id {schedule_id!r}: {problem}")


def _unknown(schedule_id: str) -> NotFoundError:
    return NotFoundError(f"no schedule {schedule_id!r}; `romancy schedule list` lists them")
