"""Pure rules: does this event satisfy this wait."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from ..records import CHILD_ENDED, Instance, StoredEvent

_MISSING = object()


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def match_index(match: Optional[dict[str, Any]]) -> tuple[Optional[str], Optional[str]]:
    """(paths, values) of a wait's `match` as canonical JSON, so stores can look waits up by them."""
    if not match:
        return None, None
    return _dump(sorted(match)), _dump(match)


def event_match_values(data: Any, paths_json: str) -> Optional[str]:
    """The values `data` holds at the paths of a match index, in the same canonical form."""
    paths = json.loads(paths_json)
    values = {path: _lookup(data, path) for path in paths}
    if any(v is _MISSING for v in values.values()):
        return None
    return _dump(values)


def data_matches(data: Any, match: Optional[dict[str, Any]]) -> bool:
    """Every dotted path in `match` exists in `data` with an equal value."""
    if not match:
        return True
    return all(_lookup(data, path) == value for path, value in match.items())


def satisfies(event: StoredEvent, instance_id: str, event_types: tuple[str, ...],
              match: Optional[dict[str, Any]]) -> bool:
    """Type is one of `event_types`, the event is untargeted or targeted at this instance, and
    `match` holds."""
    if event.type not in event_types:
        return False
    target = event.target
    if target is None and event.type == CHILD_ENDED:  # a child's end is addressed to its parent
        return False
    if target is not None and target != instance_id:
        return False
    return data_matches(event.data, match)


def accepts(instance: Instance, event: StoredEvent) -> bool:
    """The waiting instance's current wait is satisfied by `event`, received after it started."""
    wait = instance.wait
    if wait is None or wait.kind != "event" or event.seq <= instance.event_floor:
        return False
    return satisfies(event, instance.instance_id, wait.event_types, wait.match)


def why_not(instance: Instance, event: StoredEvent, consumed_by: Sequence[str] = ()) -> Optional[str]:
    """The first reason the waiting `instance` does not accept `event` of its awaited type, in
    words for the user; None when it would accept it. `consumed_by`: instances that took it."""
    wait = instance.wait
    if wait is None or wait.kind != "event" or event.type not in wait.event_types:
        return f"{instance.instance_id} does not wait for {event.type}"
    if event.seq <= instance.event_floor:
        return "received before the instance started"
    if event.target is not None and event.target != instance.instance_id:
        return "targeted at another instance"
    if event.target is None and event.type == CHILD_ENDED:
        return "a child's end counts only addressed to its parent"
    if instance.instance_id in consumed_by:  # an earlier wait of this instance took it
        return f"already consumed by {instance.instance_id}"
    return data_mismatch(event.data, event.data_content_type, wait.match)


def data_mismatch(data: Any, content_type: Optional[str], match: Optional[dict[str, Any]]) -> Optional[str]:
    """The first path of `match` that `data` does not hold, as `data.PATH is X, wanted Y`."""
    if not match:
        return None
    if not isinstance(data, dict):
        if content_type and not _is_json(content_type):
            return f"data is not JSON (Content-Type {content_type})"
        return "event has no data" if data is None else "data is not a JSON object"
    for path, wanted in match.items():
        found = _lookup(data, path)
        if found is _MISSING:
            return f"data.{path} is missing, wanted {_show(wanted)}"
        if found != wanted:
            return f"data.{path} is {_show(found)}, wanted {_show(wanted)}"
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"
