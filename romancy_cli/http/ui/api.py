"""The page's own actions, each a POST from the page answered in JSON: send an event, advance
time (--dev), start a workflow. What the page reads, and cancel and retry, are the public routes
(GET /instances, GET /events, GET /instances/{id}, POST /cancel/{id}, POST /retry/{id})."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ...errors import UsageError
from ...views import send_view, tick_view, workflow_view
from .responses import Refused, Response, json_response
from .shapes import start_arguments

if TYPE_CHECKING:
    from .site import Site


def workflow_rows(site: "Site") -> list[dict[str, Any]]:
    from ...loader import workflow_source

    registry = site.app.registry
    return [workflow_view(definition, workflow_source(definition.fn))
            for _, definition in sorted(registry.workflows.items())]


def _json(value: Any, status: int = 200) -> "Response":
    return json_response(value, status)


def send_event(site: "Site", environ: dict[str, Any]) -> "Response":
    body = site.json_body(environ)
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise UsageError("an event needs a type")
    target: Optional[str] = body.get("instance") or None
    result = site.app.send_event(event_type.strip(), body.get("data"), source="romancy-web-page",
                                 instance=target)
    return _json(send_view(result), 202)


def tick(site: "Site", environ: dict[str, Any]) -> "Response":
    body = site.json_body(environ)
    if not site.dev:
        raise Refused(403, "advancing time needs `romancy serve --dev`")
    advance = body.get("advance")
    if not isinstance(advance, str) or not advance.strip():
        raise UsageError("say how far to advance, like 5m or 48h")
    return _json(tick_view(site.app.tick(advance=advance.strip())))


def start(site: "Site", environ: dict[str, Any], name: str) -> "Response":
    body = site.json_body(environ)
    definition = site.app.registry.workflow(name)
    fields = body.get("arguments") if isinstance(body.get("arguments"), dict) else {}
    kwargs = start_arguments(workflow_view(definition, "")["parameters"], fields)
    instance_id, created = site.app.start_instance(name, [], kwargs, body.get("instance_id") or None)
    return _json({"instance_id": instance_id, "created": created}, 201 if created else 200)
