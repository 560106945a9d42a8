"""The page's JSON: what its scripts poll, and the actions (each a POST from the page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ...errors import UsageError
from ...views import send_view, tick_view, workflow_view
from .shapes import detail_view, event_row, row_view, start_arguments

if TYPE_CHECKING:
    from .site import Response, Site

PAGE_SIZE, MAX_PAGE = 50, 500


def limit(query: dict[str, str]) -> int:
    text = query.get("limit") or str(PAGE_SIZE)
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise UsageError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {text[:20]!r}")
    return int(text)


def instance_filters(query: dict[str, str]) -> dict[str, Any]:
    return {"status": query.get("status") or None, "workflow": query.get("workflow") or None,
            "search": (query.get("q") or "").strip() or None, "limit": limit(query),
            "after": query.get("after") or None}


def workflow_rows(site: "Site") -> list[dict[str, Any]]:
    from ...loader import workflow_source

    registry = site.app.registry
    return [workflow_view(definition, workflow_source(definition.fn))
            for _, definition in sorted(registry.workflows.items())]


def _json(value: Any, status: int = 200) -> "Response":
    from .site import json_response

    return json_response(value, status)


# -- reads -----------------------------------------------------------------------------


def instances(site: "Site", environ: dict[str, Any]) -> "Response":
    filters = instance_filters(site.query(environ))
    rows, next_cursor = site.app.list_instances_page(**filters)
    return _json({"instances": [row_view(i) for i in rows], "next": next_cursor,
                  "counts": site.app.count_instances(filters["workflow"])})


def instance(site: "Site", environ: dict[str, Any], instance_id: str) -> "Response":
    return _json(detail_view(site.app.get(instance_id), site.app.history(instance_id)))


def events(site: "Site", environ: dict[str, Any]) -> "Response":
    query = site.query(environ)
    page, next_cursor = site.app.event_page(query.get("type") or None, limit(query), query.get("after"))
    return _json({"events": [event_row(e, c) for e, c in page], "next": next_cursor})


# -- actions ---------------------------------------------------------------------------


def cancel(site: "Site", environ: dict[str, Any], instance_id: str) -> "Response":
    body = site.json_body(environ)
    site.app.cancel(instance_id, str(body.get("reason") or "cancelled from the web page"))
    return instance(site, environ, instance_id)


def retry(site: "Site", environ: dict[str, Any], instance_id: str) -> "Response":
    site.json_body(environ)
    site.app.retry(instance_id)
    return instance(site, environ, instance_id)


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
    from .site import Refused

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
