"""The HTML pages. Each reads through App and renders one template; the JSON the scripts poll
is in api.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ...records import STATUSES
from . import api, security
from .shapes import detail_view, event_row, row_view

if TYPE_CHECKING:
    from .site import Response, Site

STATUS_FILTERS = STATUSES + ("parked",)


def instances(site: "Site", environ: dict[str, Any]) -> "Response":
    query = site.query(environ)
    filters = api.instance_filters(query)
    rows, next_cursor = site.app.list_instances_page(**filters)
    counts = site.app.count_instances(filters["workflow"])
    return site.render(environ, "instances.html", rows=[row_view(i) for i in rows], next=next_cursor,
                       counts=counts, total=sum(counts.values()), statuses=STATUS_FILTERS,
                       workflows=sorted(site.app.registry.workflows), query=query)


def instance(site: "Site", environ: dict[str, Any], instance_id: str) -> "Response":
    found = site.app.get(instance_id)
    view = detail_view(found, site.app.history(instance_id))
    template = "_instance.html" if site.query(environ).get("fragment") else "instance.html"
    return site.render(environ, template, i=view)


def events(site: "Site", environ: dict[str, Any]) -> "Response":
    query = site.query(environ)
    page, next_cursor = site.app.event_page(query.get("type") or None, api.limit(query), query.get("after"))
    return site.render(environ, "events.html", events=[event_row(e, c) for e, c in page], next=next_cursor,
                       query=query)


def workflows(site: "Site", environ: dict[str, Any]) -> "Response":
    return site.render(environ, "workflows.html", workflows=api.workflow_rows(site))


def login_form(site: "Site", environ: dict[str, Any], status: int, wrong: bool = False) -> "Response":
    """Asked once: the token goes into an HttpOnly cookie for the page's later requests."""
    target = environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    if target.startswith("/ui/api/"):
        from .site import json_response

        return json_response({"error": "missing or wrong token: open the page and sign in"}, status)
    return site.render(environ, "login.html", status, next=target, wrong=wrong)


def login(site: "Site", environ: dict[str, Any]) -> "Response":
    from .site import Response

    form = {key: values[-1] for key, values in parse_qs(site.body(environ).decode(errors="replace")).items()}
    target = security.safe_next(form.get("next", "/"))
    if not security.token_matches(form.get("token", ""), site.token):
        environ = {**environ, "PATH_INFO": target.partition("?")[0], "QUERY_STRING": target.partition("?")[2]}
        return login_form(site, environ, 401, wrong=True)
    return Response(303, b"", headers=[("Location", target), security.token_cookie(site.token or "")])
