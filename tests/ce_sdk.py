"""The reference CloudEvents SDK as a client encoder, whichever major version is installed
(the [bench] extra's Edda pins cloudevents<2)."""

from __future__ import annotations

from typing import Any


def encode(mode: str, attributes: dict[str, Any], data: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of `mode` ("binary" or "structured") as the SDK writes them."""
    try:
        from cloudevents.core.bindings import http
        from cloudevents.core.v1.event import CloudEvent
    except ImportError:
        from cloudevents.conversion import to_binary, to_structured
        from cloudevents.http import CloudEvent as LegacyEvent

        event = LegacyEvent(attributes, data)
        headers, body = to_binary(event) if mode == "binary" else to_structured(event)
        return dict(headers), body
    message = (http.to_binary_event if mode == "binary" else http.to_structured_event)(CloudEvent(attributes, data))
    return dict(message.headers), message.body
