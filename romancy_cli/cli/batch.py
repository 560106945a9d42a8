"""`send-event --batch`: events as JSON Lines, every line checked before any event is stored, so
a bad line leaves the database as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .. import ids
from ..errors import NotFoundError, UsageError
from ..records import EventInput
from .inputs import read_text

KEYS = ("type", "data", "source", "id", "subject", "instance")
OPTIONAL_TEXT = ("source", "id", "subject", "instance")


@dataclass(frozen=True)
class BatchEvent:
    line: int
    type: str
    data: Any = None
    source: Optional[str] = None
    id: Optional[str] = None
    subject: Optional[str] = None
    instance: Optional[str] = None


def read_batch(path: str) -> list[BatchEvent]:
    """The events of file `path` (or stdin for `-`), one JSON object per non-blank line."""
    text, origin = read_text(path, "--batch")
    events = [_event(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not events:
        raise UsageError(f"--batch{origin}: no events; give one JSON object per line, "
                         'such as {"type": "payment.completed", "data": {"order_id": "ORD-1"}}')
    return events


def check_instances(events: list[BatchEvent], get: Callable[[str], Any]) -> None:
    """Every targeted instance exists (as `--instance` requires), before anything is stored;
    `get` raises NotFoundError for one that does not."""
    for event in events:
        if event.instance is None:
            continue
        try:
            get(event.instance)
        except NotFoundError as exc:
            raise NotFoundError(f"--batch line {event.line}: {exc}; nothing of the batch was stored") from None


def check_starts(events: list[BatchEvent], source: str, check: Callable[[EventInput], None]) -> None:
    """Every event's data fits the workflows it starts (start_on), before anything is stored:
    sending would refuse such an event only after storing the lines before it. `check` is
    App.check_starts, which raises UsageError naming the field."""
    for event in events:
        extensions = {} if event.instance is None else {"romancyinstanceid": event.instance}
        candidate = EventInput(event.type, event.source or source, event.id or ids.new_event_id(), event.data,
                               event.subject, data_content_type="application/json", extensions=extensions)
        try:
            check(candidate)
        except UsageError as exc:
            raise _bad(event.line, str(exc)) from None


def _event(number: int, line: str) -> BatchEvent:
    fields = _object(number, line)
    unknown = sorted(set(fields) - set(KEYS))
    if unknown:
        raise _bad(number, f"unknown key {unknown[0]!r}; use {', '.join(KEYS)}")
    if not isinstance(fields.get("type"), str) or not fields["type"]:
        raise _bad(number, '"type" must be a non-empty string, such as "payment.completed"')
    for key in OPTIONAL_TEXT:
        if key in fields and (not isinstance(fields[key], str) or not fields[key]):
            raise _bad(number, f'"{key}" must be a non-empty string')
    return BatchEvent(number, **fields)


def _object(number: int, line: str) -> dict[str, Any]:
    from ..jsonsafe import JsonValueError, loads

    try:
        value = loads(line)
    except JsonValueError as exc:
        raise _bad(number, str(exc)) from None
    except ValueError as exc:
        column = getattr(exc, "colno", None)
        where = f" at column {column}" if column else ""
        raise _bad(number, f"invalid JSON{where}: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(value, dict):
        shown = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise _bad(number, f'expected a JSON object with a "type", got {shown}')
    return value


def _bad(number: int, reason: str) -> UsageError:
    return UsageError(f"--batch line {number}: {reason}; nothing of the batch was stored")
