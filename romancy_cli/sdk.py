"""Interop with the CloudEvents SDK (`cloudevents` 2.x, a dependency): our records to its
CloudEvent objects and HTTP messages, and back. Imported on first use: the SDK is not needed to
store, match or replay events, only to encode them for HTTP and to hand them to users' code."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from .errors import UsageError
from .records import EventInput

CORE = ("specversion", "type", "source", "id", "time", "subject", "datacontenttype", "dataschema")


def to_cloudevent(type: str, source: str, id: str, data: Any = None, *, time: Any = None,
                  subject: Optional[str] = None, data_content_type: Optional[str] = None,
                  extensions: Optional[dict[str, Any]] = None) -> Any:
    """An SDK CloudEvent with these attributes (`time`: a datetime or RFC 3339 text, or None)."""
    from cloudevents.core.v1.event import CloudEvent

    attributes: dict[str, Any] = {"type": type, "source": source, "id": id, **(extensions or {})}
    if time is not None:
        attributes["time"] = datetime.fromisoformat(time.replace("Z", "+00:00")) if isinstance(time, str) else time
    if subject is not None:
        attributes["subject"] = subject
    if data is not None:
        attributes["datacontenttype"] = data_content_type or "application/json"
    return CloudEvent(attributes, data)


def event_input(cloudevent: Any) -> EventInput:
    """Our record of an SDK CloudEvent handed to App.send_event."""
    try:
        attributes = dict(cloudevent.get_attributes())
        data = cloudevent.get_data()
    except AttributeError:
        raise UsageError(f"send_event takes an event type or a cloudevents CloudEvent, not "
                         f"{type(cloudevent).__name__}") from None
    time = attributes.get("time")
    return EventInput(attributes["type"], attributes["source"], attributes["id"], data, attributes.get("subject"),
                      time.isoformat() if isinstance(time, datetime) else time,
                      attributes.get("datacontenttype") or "application/json", attributes.get("dataschema"),
                      {key: value for key, value in attributes.items() if key not in CORE})


def encode(cloudevent: Any, mode: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of `cloudevent` in CloudEvents HTTP `mode` ("binary" or "structured")."""
    from cloudevents.core.bindings import http

    encoder = http.to_binary_event if mode == "binary" else http.to_structured_event
    message = encoder(cloudevent)
    return dict(message.headers), message.body
