"""Query parameters of the listing routes (GET /instances, GET /events) and the opaque cursor
of GET /instances. A bad parameter is a 400 naming it."""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from typing import Any, Optional, Sequence
from urllib.parse import parse_qs

from ..records import STATUSES, Instance

MAX_LIMIT = 1000  # one page: large enough for scripts, small enough for one response


def _bad(message: str) -> Exception:
    from .wsgi import HttpError

    return HttpError(400, message, "InvalidRequest")


class QueryParameters:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> Optional[str]:
        return self.values.get(name)

    def limit(self, name: str, default: Optional[int] = None) -> Optional[int]:
        text = self.values.get(name)
        if text is None:
            return default
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise _bad(f"invalid query parameter {name}={text!r}: use a whole number from 1 to {MAX_LIMIT}")
        return int(text)

    def status(self, name: str) -> Optional[str]:
        text = self.values.get(name)
        if text is not None and text not in STATUSES:
            raise _bad(f"invalid query parameter {name}={text!r}: use one of {', '.join(STATUSES)}")
        return text

    def since(self, name: str) -> Optional[float]:
        """A duration back from now (1h, 2d), as the CLI's --since: the epoch time it leads to."""
        from ..durations import to_seconds
        from ..errors import UsageError

        text = self.values.get(name)
        if text is None:
            return None
        try:
            return time.time() - to_seconds(text, f"query parameter {name}")
        except UsageError as exc:
            raise _bad(str(exc)) from None

    def flag(self, name: str) -> bool:
        text = self.values.get(name)
        if text in (None, "false", "0"):
            return False
        if text in ("", "true", "1"):
            return True
        raise _bad(f"invalid query parameter {name}={text!r}: use true or false")


def query_parameters(environ: dict[str, Any], known: Sequence[str]) -> QueryParameters:
    """The query string's parameters, each given at most once and all of them known."""
    parsed = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    for name, values in parsed.items():
        if name not in known:
            raise _bad(f"unknown query parameter {name!r}: use {', '.join(known)}")
        if len(values) > 1:
            raise _bad(f"query parameter {name!r} is given {len(values)} times; give it once")
    return QueryParameters({name: values[0] for name, values in parsed.items()})


def encode_cursor(last: Instance) -> str:
    """Opaque to clients: the last item's (created_at, instance_id), where the next page starts."""
    raw = json.dumps([last.created_at, last.instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: Optional[str]) -> Optional[tuple[float, str]]:
    if text is None:
        return None
    try:
        created_at, instance_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(created_at, (int, float)) and math.isfinite(created_at) and isinstance(instance_id, str):
            return float(created_at), instance_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise _bad(f"invalid query parameter after={text!r}: pass the `next` of the previous page unchanged")
