"""Query parameters of the listing routes (GET /instances, GET /events), the opaque cursor of
GET /instances, and the answer of GET /instances, which the web page renders too. A bad
parameter is a 400 naming it."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any, Optional, Sequence
from urllib.parse import parse_qs

from ..records import SHOWN_STATUSES, Instance
from ..views import page_view
from .protocol import HttpError

if TYPE_CHECKING:
    from ..app import App

MAX_LIMIT = 1000  # one page: large enough for scripts, small enough for one response


def _bad(message: str) -> Exception:
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
        if text is not None and text not in SHOWN_STATUSES:
            raise _bad(f"invalid query parameter {name}={text!r}: use one of {', '.join(SHOWN_STATUSES)}")
        return text

    def seq(self, name: str) -> Optional[int]:
        """An event's seq, as GET /events shows it."""
        text = self.values.get(name)
        if text is None:
            return None
        if not (text.isascii() and text.isdigit()) or len(text) > 18:  # 18 digits fit any database's integer
            raise _bad(f"invalid query parameter {name}={text!r}: use the seq of an event")
        return int(text)

    def since(self, name: str, now: float) -> Optional[float]:
        """A duration back from `now` (1h, 2d), as the CLI's --since: the epoch time it leads to."""
        from ..durations import to_seconds
        from ..errors import UsageError

        text = self.values.get(name)
        if text is None:
            return None
        try:
            return now - to_seconds(text, f"query parameter {name}")
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
    from ..jsonsafe import loads  # strict: a lone surrogate in a crafted cursor is no id the store can take

    try:
        created_at, instance_id = loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
        if isinstance(created_at, (int, float)) and math.isfinite(created_at) and isinstance(instance_id, str):
            return float(created_at), instance_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise _bad(f"invalid query parameter after={text!r}: pass the `next` of the previous page unchanged")


INSTANCE_PARAMETERS = ("status", "workflow", "q", "limit", "after", "counts")


def instances_answer(app: "App", params: QueryParameters, default_limit: int, counts: bool) -> dict[str, Any]:
    """GET /instances: a page of instances newest first and the cursor of the next; with `counts`,
    also the instances per status of the chosen workflow (all of them when none is chosen)."""
    limit = params.limit("limit", default=default_limit)
    assert limit is not None
    workflow = params.get("workflow")
    found = app.list_instances(params.status("status"), workflow, limit + 1, decode_cursor(params.get("after")),
                               params.get("q"))
    page = found[:limit]
    answer = page_view(page, encode_cursor(page[-1]) if len(found) > limit else None)
    if counts:
        answer["counts"] = app.count_instances(workflow)
    return answer
