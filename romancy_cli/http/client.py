"""Post an event to a running `romancy serve` as a structured-mode CloudEvent, encoded by the
CloudEvents SDK and sent with urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Optional

from .. import sdk
from ..errors import RomancyError, UnavailableError, UsageError
from ..records import EventInput


def post_event(url: str, event: EventInput, token: Optional[str] = None, timeout: float = 30.0) -> dict[str, Any]:
    """The server's JSON answer for 2xx; a one-line error with the right category otherwise."""
    cloudevent = sdk.to_cloudevent(event.type, event.source, event.id, event.data, time=event.time,
                                   subject=event.subject, data_content_type=event.data_content_type,
                                   extensions=event.extensions)
    headers, body = sdk.encode(cloudevent, "structured")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers, method="POST")
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
