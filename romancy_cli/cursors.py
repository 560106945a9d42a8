"""Opaque page cursors for keyset paging: the key of the last row shown, as URL-safe text."""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

from .errors import UsageError


def encode(key: Any) -> Optional[str]:
    """`key` (JSON: a number, or [created_at, instance_id]) as a cursor; None stays None."""
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: Optional[str], what: str) -> Any:
    """The key in a cursor from `encode`; a UsageError (400 over HTTP) for anything else."""
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise UsageError(f"invalid {what} cursor {cursor[:40]!r}: use the `next` value of a page") from None


def instance_key(cursor: Optional[str]) -> Optional[tuple[float, str]]:
    key = decode(cursor, "instances")
    if key is None:
        return None
    if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], (int, float))
            and not isinstance(key[0], bool) and isinstance(key[1], str)):
        raise UsageError("invalid instances cursor: use the `next` value of a page")
    return float(key[0]), key[1]


def event_key(cursor: Optional[str]) -> Optional[int]:
    key = decode(cursor, "events")
    if key is not None and (not isinstance(key, int) or isinstance(key, bool)):
        raise UsageError("invalid events cursor: use the `next` value of a page")
    return key
