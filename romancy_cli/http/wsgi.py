"""WSGI routes over App: CloudEvents in, instance JSON out (statuses of errors: protocol.py)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from ..errors import AmbiguousIdError, NotFoundError, RomancyError, StorageFault, UnavailableError, UsageError
from ..jsonsafe import dumps
from ..records import EventInput, Instance
from .gate import AllowedHosts, Refusal, admit
from .protocol import DEFAULT_MAX_BODY, HttpError, error_body, reason, status_of
from .parsing import InvalidEvent, UnsupportedMediaType, parse_request
from .ui import wants_page
from .ui.security import authorized, cross_origin

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("romancy.http")

StartResponse = Callable[..., Any]
Dispatch = Callable[[Iterable[Instance]], None]

# What `GET /` answers a client that is not a browser: the routes, one line each.
ROUTES = {
    "POST /": "a CloudEvent (structured, binary or batch mode): stored, and the instances it satisfies resumed",
    "GET /instances": "instances, newest first (?status=&workflow=&q=&limit=&after=&counts=)",
    "GET /instances/{id}": "one instance with its history",
    "GET /events": "stored events (?type=&since=&unconsumed=&limit=&before=)",
    "POST /cancel/{id}": "cancel an instance",
    "POST /retry/{id}": "run a failed instance again",
    "GET /schedules[/{id}]": "schedules; POST /schedules/{id}/pause|unpause|trigger acts on one",
    "GET /queues": "the declared queues, with what each holds",
    "GET /metrics": "Prometheus metrics (romancy serve)",
    "GET /health/live": "the process answers",
    "GET /health/ready": "the database answers and takes writes",
}

_DELIVERED = "romancy.delivered"  # environ key: instances a request's events satisfied


class _ThenRun(list):
    """A response body whose close() (called by the server once the response is sent) runs
    `then`: the sender has its 202 before the instances it satisfied are resumed."""

    def __init__(self, chunks: list[bytes], then: Callable[[], None]) -> None:
        super().__init__(chunks)
        self._then = then

    def close(self) -> None:
        self._then()


@dataclass(frozen=True)
class Raw:
    """A body sent as it is, not as JSON (GET /metrics)."""

    content_type: str
    body: bytes


class WsgiApp:
    """`POST /` events; `GET /health/live|ready`; `GET /instances[/{id}]`; `GET /events`; `GET /queues`;
    `POST /cancel/{id}`; `POST /retry/{id}`; `GET /schedules[/{id}]`, `POST /schedules/{id}/pause|unpause|
    trigger` (http/schedules.py); the web page (`GET /` from a browser, `/ui/...`)."""

    def __init__(self, app: "App", dispatch: Optional[Dispatch] = None, token: Optional[str] = None,
                 max_body: int = DEFAULT_MAX_BODY, dev: bool = False, hosts: Optional[AllowedHosts] = None,
                 metrics: Optional[Callable[[], tuple[str, bytes]]] = None, import_error: Optional[str] = None) -> None:
        self.app = app
        self.hosts = hosts or AllowedHosts("127.0.0.1")  # the names requests may be addressed to
        self.metrics = metrics  # the Prometheus text of GET /metrics (serve's Metrics.render)
        self.dev = dev  # the web page may advance time (serve --dev)
        self.import_error = import_error  # why the workflow modules do not import: every page shows it
        self._site: Any = None  # the web page (ui/), built on its first request: Jinja2 loads then
        self.dispatch = dispatch
        self.token = token
        self.max_body = max_body
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("POST", re.compile(r"/"), self.post_events),
            ("GET", re.compile(r"/"), self.describe),
            ("GET", re.compile(r"/health/live"), self.live),
            ("GET", re.compile(r"/health/ready"), self.ready),
            ("GET", re.compile(r"/instances"), self.list_instances),
            ("GET", re.compile(r"/instances/(?P<instance_id>[^/]+)"), self.get_instance),
            ("GET", re.compile(r"/events"), self.list_events),
            ("GET", re.compile(r"/queues"), self.list_queues),
            ("POST", re.compile(r"/cancel/(?P<instance_id>[^/]+)"), self.cancel),
            ("POST", re.compile(r"/retry/(?P<instance_id>[^/]+)"), self.retry),
            ("GET", re.compile(r"/schedules"), self.list_schedules),
            ("GET", re.compile(r"/schedules/(?P<schedule_id>[^/]+)"), self.get_schedule),
            ("POST", re.compile(r"/schedules/(?P<schedule_id>[^/]+)/(?P<action>pause|unpause|trigger)"),
             self.schedule_action),
            ("GET", re.compile(r"/metrics"), self.metrics_text),
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            admit(environ, self.hosts)
        except Refusal as refused:  # before the page too: it is not routed yet
            return self._answer(environ, start_response, refused.status,
                                error_body(refused.status, str(refused), refused.error_type), [])
        if wants_page(environ):
            return self.site(environ, start_response)
        try:
            status, body = self._handle(environ)
            headers: list = []
        except HttpError as exc:
            status, headers = exc.status, exc.headers
            body = error_body(exc.status, str(exc), exc.error_type)
        except StorageFault as fault:  # nothing of this request was stored: the sender retries
            log.warning("request failed: %s", fault)
            (status, error_type), headers = status_of(fault), [("Retry-After", "1")]
            body = error_body(status, str(fault), error_type)
        except Exception as exc:  # a fault of ours: the sender may retry
            log.exception("request failed")
            status, headers = 500, []
            body = error_body(500, f"server error: {type(exc).__name__}: {exc}", "ServerError")
        return self._answer(environ, start_response, status, body, headers)

    def _answer(self, environ: dict[str, Any], start_response: StartResponse, status: int, body: Any,
                headers: list) -> list[bytes]:
        content_type, payload = (body.content_type, body.body) if isinstance(body, Raw) \
            else ("application/json", dumps(body).encode())
        # nosniff: no browser may run an answer as a script of another site (JSON hijacking).
        start_response(f"{status} {reason(status)}",
                       [("Content-Type", content_type), ("Content-Length", str(len(payload))),
                        ("X-Content-Type-Options", "nosniff")] + headers)
        delivered = environ.get(_DELIVERED)
        if delivered and self.dispatch is not None:
            return _ThenRun([payload], lambda: self.dispatch(delivered))  # type: ignore[misc]
        return [payload]

    @property
    def site(self) -> Any:
        if self._site is None:
            from .ui.site import Site

            self._site = Site(self.app, self.token, self.dev, self.import_error)
        return self._site

    def _handle(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/"
        allowed = []
        for route_method, pattern, handler in self.routes:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            if route_method == method:
                if method == "POST" and cross_origin(environ):  # CSRF: another site's page sent it
                    raise HttpError(403, f"cross-origin request refused: Origin {environ['HTTP_ORIGIN']!r} is "
                                    "not this server; send it without an Origin header or from this server's page",
                                    "Forbidden")
                if not (path.startswith("/health/") or handler == self.describe):  # probes and the map carry no token
                    self._authorize(environ)
                return handler(environ, **found.groupdict())
            allowed.append(route_method)
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                            "MethodNotAllowed", [("Allow", ", ".join(allowed))])
        raise HttpError(404, f"no route {path}", "NotFound")

    def _authorize(self, environ: dict[str, Any]) -> None:
        """The bearer token, or the web page's cookie holding it (SameSite=Strict: only this
        site's pages send it, and their POSTs pass the origin check)."""
        if not authorized(environ, self.token):
            raise HttpError(401, "missing or wrong bearer token: send `Authorization: Bearer <token>`",
                            "Unauthorized", [("WWW-Authenticate", "Bearer")])

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise HttpError(400, "invalid Content-Length header", "InvalidRequest") from None
        if length > self.max_body:
            raise HttpError(413, f"body of {length} bytes is over the limit of {self.max_body} bytes",
                            "PayloadTooLarge")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        return body

    # -- handlers ------------------------------------------------------------------

    def post_events(self, environ: dict[str, Any]) -> tuple[int, Any]:
        body = self._read_body(environ)
        try:
            events = parse_request(environ, body)
        except InvalidEvent as exc:
            raise HttpError(400, str(exc), "InvalidEvent") from None
        except UnsupportedMediaType as exc:
            raise HttpError(415, str(exc), "UnsupportedMediaType") from None
        if self.app.observers.tracer is not None:
            events = [_with_http_trace(event, environ) for event in events]
        try:  # a batch is all or nothing: every event's data must fit the workflows it starts
            for event in events:
                self.app.check_starts(event)
        except UsageError as exc:
            raise HttpError(400, str(exc), "InvalidEventData") from None
        delivered: list[Instance] = environ.setdefault(_DELIVERED, [])
        for event in events:
            _warn_form_encoded(event)
            result = self.app.accept(event, resume=False, dispatch=delivered.extend if self.dispatch else None)
            about = {"event_type": event.type, "event_id": event.id, "source": event.source}
            log.info("accepted %s %s from %s → %s", event.type, event.id, event.source, _outcome(result), extra=about)
            if result.waiting:
                log.info("%s %s resumed nothing: %d%s instance(s) wait for %s; none matched: %s", event.type,
                         event.id, result.waiting, "+" if result.more_waiting else "", event.type,
                         "; ".join(f"{iid}: {reason}" for iid, reason in result.near_misses), extra=about)
        return 202, {"status": "accepted"}

    def metrics_text(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.metrics is None:
            raise HttpError(404, "no metrics here: `romancy serve` answers GET /metrics", "NotFound")
        return 200, Raw(*self.metrics())

    def describe(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """`GET /` from curl or a script: what this endpoint is, and where the page is."""
        return 200, {"service": "romancy serve",
                     "page": "open this URL in a browser (Accept: text/html) for the web page",
                     "routes": ROUTES}

    def live(self, environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"status": "ok"}

    def ready(self, environ: dict[str, Any]) -> tuple[int, Any]:
        try:
            self.app.check_writable()
        except StorageFault as fault:
            raise HttpError(status_of(fault)[0], f"database cannot take writes: {fault}", "Unavailable") from None
        except Exception as exc:
            raise HttpError(503, f"database not reachable: {exc}", "Unavailable") from None
        return 200, {"status": "ok", "database": "reachable"}

    def get_instance(self, environ: dict[str, Any], instance_id: str) -> tuple[int, Any]:
        from ..views import detail_view

        instance = self._find(instance_id)
        return 200, detail_view(instance, self.app.history(instance.instance_id), self.app.near_misses(instance),
                                self.app.children(instance.instance_id))

    def _find(self, instance_id: str) -> Instance:
        """The instance of an id or unique prefix: 404 for none, 400 naming the candidates."""
        try:
            return self.app.find(instance_id)
        except NotFoundError as exc:
            raise HttpError(404, str(exc), "NotFound") from None
        except AmbiguousIdError as exc:
            raise HttpError(400, str(exc), "AmbiguousId") from None

    def list_instances(self, environ: dict[str, Any]) -> tuple[int, Any]:
        from .listing import INSTANCE_PARAMETERS, instances_answer, query_parameters

        params = query_parameters(environ, INSTANCE_PARAMETERS)
        return 200, instances_answer(self.app, params, 100, params.flag("counts"))

    def list_queues(self, environ: dict[str, Any]) -> tuple[int, Any]:
        from ..views import queue_view

        return 200, [queue_view(state) for state in self.app.queue_states()]

    def list_events(self, environ: dict[str, Any]) -> tuple[int, Any]:
        from ..views import event_view
        from .listing import query_parameters

        params = query_parameters(environ, ("type", "since", "unconsumed", "limit", "before"))
        found = self.app.list_events(params.get("type"), params.since("since", self.app.now()), params.flag("unconsumed"),
                                     params.limit("limit"), params.seq("before"))
        return 200, [event_view(logged) for logged in found]

    def retry(self, environ: dict[str, Any], instance_id: str) -> tuple[int, Any]:
        from ..views import instance_view

        instance_id = self._find(instance_id).instance_id
        _as_http(lambda: self.app.retry(instance_id))
        return 200, instance_view(self.app.get(instance_id), self.app.history(instance_id))

    def cancel(self, environ: dict[str, Any], instance_id: str) -> tuple[int, Any]:
        from ..views import instance_view

        instance_id = self._find(instance_id).instance_id
        return 200, instance_view(_as_http(lambda: self.app.cancel(instance_id, "cancelled over HTTP")), None)

    def list_schedules(self, environ: dict[str, Any]) -> tuple[int, Any]:
        from .schedules import list_schedules

        return 200, list_schedules(self.app)

    def get_schedule(self, environ: dict[str, Any], schedule_id: str) -> tuple[int, Any]:
        from .schedules import get_schedule

        return 200, get_schedule(self.app, schedule_id)

    def schedule_action(self, environ: dict[str, Any], schedule_id: str, action: str) -> tuple[int, Any]:
        from .schedules import act

        return 200, act(self.app, schedule_id, action)


def _with_http_trace(event: EventInput, environ: dict[str, Any]) -> EventInput:
    """An HTTP `traceparent` (and `tracestate`) header is the trace context of an event that
    carries none of its own (CloudEvents Distributed Tracing: the event's attribute wins)."""
    if "traceparent" in event.extensions or not environ.get("HTTP_TRACEPARENT"):
        return event
    trace = {"traceparent": environ["HTTP_TRACEPARENT"]}
    if environ.get("HTTP_TRACESTATE"):
        trace["tracestate"] = environ["HTTP_TRACESTATE"]
    return replace(event, extensions={**event.extensions, **trace})


def _outcome(result: Any) -> str:
    """What an accepted event did, for the log: the waits it filled and the instances it started."""
    if result.duplicate:
        return "duplicate: applied once already"
    parts = []
    if result.delivered:
        parts.append(f"delivered to {_count(len(result.delivered))}")
    if result.started:
        parts.append(f"started {_count(len(result.started))}: {', '.join(result.started)}")
    return "; ".join(parts) or "no instance waited for it"


def _count(n: int) -> str:
    return f"{n} instance{'s' if n != 1 else ''}"


def _as_http(action: Callable[[], Any]) -> Any:
    """Run an action on one instance: unknown is 404, one in the wrong state 409 (status_of)."""
    try:
        return action()
    except (UsageError, UnavailableError):
        raise
    except RomancyError as exc:
        status, error_type = status_of(exc)
        raise HttpError(status, str(exc), error_type) from None


FORM = "application/x-www-form-urlencoded"


def _warn_form_encoded(event: EventInput) -> None:
    """`curl -d` without `-H` labels JSON as a form: kept as sent (base64 data), but said, since
    a `match=` on its fields will never fire."""
    if (event.data_content_type or "").split(";")[0].strip().lower() == FORM:
        log.warning("event %s %s from %s has Content-Type %s (curl -d without -H?): its data is kept "
                    "as base64 bytes; send JSON data with -H 'Content-Type: application/json'",
                    event.type, event.id, event.source, FORM)
