"""When a schedule fires: cron expressions (cronsim, imported on first use) or a fixed interval,
in a timezone; the slot's text, the instance id derived from it, and back.

Cron follows Debian's cron through cronsim, daylight-saving changes included: a fixed-time job in
the hour skipped by spring-forward runs at the jump, one in the hour repeated by fall-back runs
once; jobs more frequent than hourly run by the wall clock (both passes of a repeated hour).
`every` counts from the Unix epoch (UTC), so `every="1d"` fires at 00:00 UTC whatever the timezone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any, Optional, Sequence, Union

from .durations import describe, to_seconds
from .errors import UsageError

OVERLAPS = ("skip", "buffer_one", "allow_all")
DEFAULT_CATCHUP = 60.0
MIN_EVERY = 1.0  # seconds: slots are named to the second


@dataclass(frozen=True)
class ScheduleSpec:
    """Either `cron` (expressions, any of which fires) or `every` (seconds), in `timezone`."""

    cron: tuple[str, ...] = ()
    every: Optional[float] = None
    timezone: str = "UTC"

    def plain(self) -> dict[str, Any]:
        """The JSON form stored and shown: {"cron": [...]} or {"every": "15m"}."""
        return {"cron": list(self.cron)} if self.cron else {"every": describe(self.every or 0.0)}

    def zone(self) -> tzinfo:
        return zone(self.timezone)

    def next_after(self, epoch: float) -> Optional[float]:
        """The first slot strictly after `epoch`, None when there is none (a cron date that never comes)."""
        if self.every is not None:
            return (math.floor(epoch / self.every) + 1) * self.every
        from cronsim import CronSim

        start = datetime.fromtimestamp(epoch, self.zone())
        found = []
        for expression in self.cron:
            try:
                found.append(next(CronSim(expression, start)).timestamp())
            except StopIteration:  # no match within cronsim's 50-year horizon
                continue
        return min(found) if found else None

    def upcoming(self, epoch: float, count: int) -> list[float]:
        slots: list[float] = []
        slot: Optional[float] = epoch
        while len(slots) < count:
            slot = self.next_after(slot)  # type: ignore[arg-type]
            if slot is None:
                break
            slots.append(slot)
        return slots


def zone(name: str) -> tzinfo:
    """The IANA timezone `name`; UsageError naming it when unknown."""
    if name in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"invalid timezone {name!r}: use an IANA name such as Europe/Paris or UTC") from None


def make_spec(cron: Union[str, Sequence[str], None] = None, every: Any = None,
              timezone_name: Optional[str] = None, where: str = "schedule") -> ScheduleSpec:
    """A checked spec: exactly one of cron (a string or a list) and every; UsageError naming what is wrong."""
    expressions = (cron,) if isinstance(cron, str) else tuple(cron or ())
    if bool(expressions) == (every is not None):
        raise UsageError(f"{where}: give a cron expression or an interval (every), one of the two")
    tz = timezone_name or "UTC"
    zone(tz)
    if every is not None:
        seconds = to_seconds(every, f"{where} interval")
        if seconds < MIN_EVERY or seconds != int(seconds):
            raise UsageError(f"invalid {where} interval {every!r}: use whole seconds, at least 1s")
        return ScheduleSpec(every=seconds, timezone=tz)
    for expression in expressions:
        _check_cron(expression, where)
    return ScheduleSpec(cron=expressions, timezone=tz)


def _check_cron(expression: Any, where: str) -> None:
    from cronsim import CronSim, CronSimError

    if not isinstance(expression, str) or not expression.strip():
        raise UsageError(f"invalid cron expression {expression!r} in {where}: give five fields, e.g. '0 9 * * MON-FRI'")
    try:
        CronSim(expression, datetime.now(timezone.utc))
    except CronSimError as exc:
        raise UsageError(f"invalid cron expression {expression!r} in {where}: {exc}; "
                         "give five fields, e.g. '0 9 * * MON-FRI'") from None


def schedule_id_problem(schedule_id: str) -> Optional[str]:
    """Why `schedule_id` cannot name a schedule, None when it can: its instances are
    `<id>@<slot>` and its routes `/schedules/<id>`."""
    if not schedule_id or schedule_id.strip() != schedule_id or "@" in schedule_id or "/" in schedule_id:
        return "give a name without '@', '/' or surrounding spaces"
    return None


def spec_from_plain(plain: dict[str, Any], timezone_name: str) -> ScheduleSpec:
    """The spec as stored (see ScheduleSpec.plain); trusted, not checked again."""
    if "every" in plain:
        return ScheduleSpec(every=to_seconds(plain["every"]), timezone=timezone_name)
    return ScheduleSpec(cron=tuple(plain["cron"]), timezone=timezone_name)


def slot_text(epoch: float, timezone_name: str) -> str:
    """RFC 3339 in the schedule's timezone (its offset tells the two passes of a repeated hour apart)."""
    when = datetime.fromtimestamp(epoch, zone(timezone_name))
    text = when.isoformat(timespec="seconds" if epoch == int(epoch) else "milliseconds")
    return text.replace("+00:00", "Z")


def slot_instance_id(schedule_id: str, epoch: float, timezone_name: str) -> str:
    """`<schedule>@<slot>`: one id per slot, so a slot started twice is refused by its key."""
    return f"{schedule_id}@{slot_text(epoch, timezone_name)}"


def slot_of(instance_id: str) -> Optional[tuple[str, datetime]]:
    """(schedule id, slot) of an id made by slot_instance_id, None for any other id."""
    schedule_id, at, text = instance_id.rpartition("@")
    if not at or not schedule_id or not text[-1:].isdigit() and not text.endswith("Z"):
        return None
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return schedule_id, when
