"""Post an event to a running `romancy serve` as a structured-mode CloudEvent (stdlib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Optional

from ..errors import RomancyError, UnavailableError, UsageError
from ..records import EventInput


def structured(event: EventInput) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specversion": "1.0", "id": event.id, "source": event.source, "type": event.type,
        "time": event.time or datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": event.data_content_type or "application/json",
    }
    if event.subject is not None:
        body["subject"] = event.subject
    body.update(event.extensions)
    if event.data is not None:
        body["data"] = event.data
    return body


def post_event(url: str, event: EventInput, token: Optional[str] = None, timeout: float = 30.0) -> dict[str, Any]:
    """The server's JSON answer for 2xx; a one-line error with the right category otherwise."""
    headers = {"Content-Type": "application/cloudevents+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(structured(event)).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise _server_error(url, exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(f"cannot reach {url}: {reason}; is `romancy serve` running there?") from None


def _server_error(url: str, status: int, body: bytes) -> RomancyError:
    try:
        message = json.loads(body).get("error") or body.decode(errors="replace")
    except (ValueError, AttributeError):
        message = body.decode(errors="replace").strip()
    text = f"{url} answered {status}: {message}"
    return RomancyError(text) if status >= 500 else UsageError(text)
