"""The HTML pages. Each renders what the public JSON routes answer (through the same functions),
so a script and the page see the same data; the page's scripts then poll those routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from ...records import SHOWN_STATUSES
from ..listing import instances_answer, query_parameters
from . import api, security
from .responses import Response, json_response
from .shapes import event_row, page_detail

if TYPE_CHECKING:
    from .site import Site

PAGE_SIZE = 50  # rows of one page of instances or events


def without_blanks(environ: dict[str, Any]) -> dict[str, Any]:
    """The request with empty query parameters left out: the page's filter forms send every
    field, and an empty one means "any" (the JSON routes would refuse `status=`)."""
    given = [(key, value.strip()) for key, value in parse_qsl(environ.get("QUERY_STRING", ""))]
    return {**environ, "QUERY_STRING": urlencode([(key, value) for key, value in given if value])}


def instances(site: "Site", environ: dict[str, Any]) -> "Response":
    """The first page as GET /instances answers it; the page's script then polls that route."""
    params = query_parameters(without_blanks(environ), ("status", "workflow", "q", "after"))
    answer = instances_answer(site.app, params, PAGE_SIZE, counts=True)
    return site.render(environ, "instances.html", rows=answer["instances"], next=answer["next"],
                       counts=answer["counts"], total=sum(answer["counts"].values()), statuses=SHOWN_STATUSES,
                       workflows=sorted(site.app.registry.workflows), query=params.values, page_size=PAGE_SIZE)


def instance(site: "Site", environ: dict[str, Any], instance_id: str) -> "Response":
    """GET /instances/{id}'s answer, laid out; `?fragment=1` is the part the script swaps in."""
    found = site.app.find(instance_id)
    view = page_detail(found, site.app.history(found.instance_id), site.app.near_misses(found), site.app.now(),
                       site.app.children(found.instance_id))
    template = "_instance.html" if site.query(environ).get("fragment") else "instance.html"
    return site.render(environ, template, i=view)


def events(site: "Site", environ: dict[str, Any]) -> "Response":
    """A page of GET /events (newest first, keyset on seq through `before`)."""
    params = query_parameters(without_blanks(environ), ("type", "unconsumed", "before"))
    found = site.app.list_events(params.get("type"), None, params.flag("unconsumed"), PAGE_SIZE + 1,
                                 params.seq("before"))
    page = found[:PAGE_SIZE]
    return site.render(environ, "events.html", events=[event_row(logged) for logged in page],
                       next=page[-1].event.seq if len(found) > PAGE_SIZE else None, query=params.values)


def workflows(site: "Site", environ: dict[str, Any]) -> "Response":
    return site.render(environ, "workflows.html", workflows=api.workflow_rows(site))


def schedules(site: "Site", environ: dict[str, Any]) -> "Response":
    """GET /schedules's answer; its buttons post to the public POST /schedules/{id}/... routes."""
    from ..schedules import list_schedules

    return site.render(environ, "schedules.html", schedules=list_schedules(site.app))


def login_form(site: "Site", environ: dict[str, Any], status: int, wrong: bool = False) -> "Response":
    """Asked once: the token goes into an HttpOnly cookie for the page's later requests."""
    target = environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING"):
        target += "?" + environ["QUERY_STRING"]
    if target.startswith("/ui/api/"):
        return json_response({"error": "missing or wrong token: open the page and sign in"}, status)
    return site.render(environ, "login.html", status, next=target, wrong=wrong)


def login(site: "Site", environ: dict[str, Any]) -> "Response":
    form = dict(parse_qsl(site.body(environ).decode(errors="replace")))  # the last of a repeated field
    target = security.safe_next(form.get("next", "/"))
    if not security.token_matches(form.get("token", ""), site.token):
        environ = {**environ, "PATH_INFO": target.partition("?")[0], "QUERY_STRING": target.partition("?")[2]}
        return login_form(site, environ, 401, wrong=True)
    return Response(303, b"", headers=[("Location", target), security.token_cookie(site.token or "")])
