"""`send-event --batch`: events as JSON Lines, every line checked before any event is stored, so
a bad line leaves the database as it was: its text (UTF-8, valid Unicode), its JSON, its keys,
its target instance and the workflows it starts (start_on)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..errors import AmbiguousIdError, NotFoundError, UsageError
from .inputs import read_text

if TYPE_CHECKING:
    from ..records import EventInput

KEYS = ("type", "data", "source", "id", "subject", "instance")
OPTIONAL_TEXT = ("source", "id", "subject", "instance")
# JSON Lines ends a line at \n (\r\n, and \r as text-mode reading did): str.splitlines would also
# split at U+2028, U+0085 and others, which JSON allows raw inside a string.
_LINE_END = re.compile(r"\r\n?|\n")


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
    events = [_event(number, line) for number, line in enumerate(_LINE_END.split(text), 1) if line.strip(" \t")]
    if not events:
        raise UsageError(f"--batch{origin}: no events; give one JSON object per line, "
                         'such as {"type": "payment.completed", "data": {"order_id": "ORD-1"}}')
    return events


def check_instances(events: list[BatchEvent], get: Callable[[str], Any]) -> list[BatchEvent]:
    """Every targeted instance exists (as `--instance` requires), before anything is stored;
    `get` raises NotFoundError for one that does not. Returns the events with whole ids."""
    checked = []
    for event in events:
        if event.instance is None:
            checked.append(event)
            continue
        try:
            checked.append(replace(event, instance=get(event.instance).instance_id))
        except NotFoundError as exc:
            raise NotFoundError(f"--batch line {event.line}: {exc}; nothing of the batch was stored") from None
        except AmbiguousIdError as exc:
            raise UsageError(f"--batch line {event.line}: {exc}; nothing of the batch was stored") from None
    return checked


def checked_inputs(events: list[BatchEvent], build: Callable[[BatchEvent], EventInput],
                   check: Callable[[EventInput], None]) -> list[EventInput]:
    """Each line's event as it will be stored (`build`), each checked by `check` (UsageError: its
    data does not fit a workflow it starts), so such a line fails the batch before any is stored."""
    inputs = []
    for event in events:
        built = build(event)
        try:
            check(built)
        except UsageError as exc:
            raise _bad(event.line, str(exc)) from None
        inputs.append(built)
    return inputs


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
