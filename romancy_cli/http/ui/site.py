"""The page's WSGI application: routes, the token and CSRF rules, responses with their headers."""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs, urlencode

from ...errors import RomancyError, StorageFault
from ...jsonsafe import dumps
from ..protocol import HttpError, reason, status_of
from . import api, pages, security
from .responses import Refused, Response, json_response

if TYPE_CHECKING:
    from ...app import App

log = logging.getLogger("romancy.http")

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# Looked up by name: a requested name never reaches the file system (a NUL or an overlong name
# raised there).
STATIC_FILES = frozenset(file.name for file in STATIC.iterdir() if file.is_file())
MAX_FORM = 64 * 1024  # the page's own requests are small


Handler = Callable[..., Response]


class Site:
    """Pages (`/`, `/ui/instances/{id}`, `/ui/events`, `/ui/workflows`, `/ui/schedules`) and the page's own
    actions under `/ui/api/` (POST, same-origin only)."""

    def __init__(self, app: "App", token: Optional[str], dev: bool, import_error: Optional[str] = None) -> None:
        import jinja2

        self.app, self.token, self.dev, self.import_error = app, token, dev, import_error
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                            autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["json"] = lambda value: dumps(value, indent=2, ensure_ascii=False)
        self.templates.filters["jsonc"] = lambda value: dumps(value, ensure_ascii=False)  # one line
        self.templates.globals["link_query"] = query_string
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(pattern), handler) for method, pattern, handler in [
                ("GET", r"/", pages.instances), ("GET", r"/ui/", pages.instances),
                ("GET", r"/ui/instances/(?P<instance_id>[^/]+)", pages.instance),
                ("GET", r"/ui/events", pages.events), ("GET", r"/ui/workflows", pages.workflows),
                ("GET", r"/ui/schedules", pages.schedules),
                ("POST", r"/ui/login", pages.login),
                ("POST", r"/ui/api/events", api.send_event),
                ("POST", r"/ui/api/tick", api.tick),
                ("POST", r"/ui/api/workflows/(?P<name>[^/]+)/start", api.start),
            ]]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        try:
            response = self._static(path) if path.startswith("/ui/static/") else self._route(environ, path)
        except Refused as exc:
            response = self.error(environ, exc.status, str(exc))
        except StorageFault as fault:
            response = self.error(environ, status_of(fault)[0], f"the database cannot be used now: {fault}")
        except Exception as exc:  # a fault of ours: say so on the page rather than drop the request
            log.exception("page request failed")
            response = self.error(environ, 500, f"server error: {type(exc).__name__}: {exc}")
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason(response.status)}", headers + security.HEADERS + response.headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else response.body]

    def _route(self, environ: dict[str, Any], path: str) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        for route_method, pattern, handler in self.routes:
            found = pattern.fullmatch(path)
            if found is None or route_method != ("GET" if method == "HEAD" else method):
                continue
            if method == "POST" and not security.same_origin(environ):
                raise Refused(403, "cross-origin request refused: send it from this server's page")
            if handler is not pages.login and not security.authorized(environ, self.token):
                return pages.login_form(self, environ, 401)
            try:
                return handler(self, environ, **found.groupdict())
            except HttpError as exc:  # a query parameter the JSON routes refuse too
                raise Refused(exc.status, str(exc)) from None
            except RomancyError as exc:
                raise Refused(status_of(exc)[0], str(exc)) from None
        raise Refused(404 if method in ("GET", "HEAD") else 405, f"no page {method} {path}")

    def _static(self, path: str) -> Response:
        name = path[len("/ui/static/"):]
        if name not in STATIC_FILES:
            raise Refused(404, f"no file {name[:100]}")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(200, (STATIC / name).read_bytes(), f"{kind}; charset=utf-8")

    # -- responses -------------------------------------------------------------------

    def render(self, environ: dict[str, Any], template: str, status: int = 200, **context: Any) -> Response:
        html = self.templates.get_template(template).render(dev=self.dev, token_required=self.token is not None,
                                                             import_error=self.import_error,
                                                             clock_ahead=_clock_ahead(self.app.clock_offset),
                                                             path=environ.get("PATH_INFO", "/"), **context)
        return Response(status, html.encode())

    def error(self, environ: dict[str, Any], status: int, message: str) -> Response:
        if (environ.get("PATH_INFO") or "").startswith("/ui/api/"):
            return json_response({"error": message}, status)
        return self.render(environ, "error.html", status, code=status, message=message)

    # -- requests --------------------------------------------------------------------

    @staticmethod
    def query(environ: dict[str, Any]) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}

    @staticmethod
    def body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Refused(400, "invalid Content-Length header") from None
        if length > MAX_FORM:
            raise Refused(413, f"body of {length} bytes is over the page's limit of {MAX_FORM}")
        return environ["wsgi.input"].read(length) if length > 0 else b""

    def json_body(self, environ: dict[str, Any]) -> dict[str, Any]:
        """The action's JSON object. Content-Type must say JSON: a form of another site cannot."""
        from ...jsonsafe import loads

        if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
            raise Refused(415, "send the action as application/json")
        try:
            value = loads(self.body(environ).decode() or "{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(400, f"invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise Refused(400, "send a JSON object")
        return value


def _clock_ahead(offset: float) -> Optional[str]:
    """How far the database's virtual clock is from the real time, or None when it is not."""
    if not offset:
        return None
    from ...durations import describe

    return f"{describe(abs(offset))} {'ahead of' if offset > 0 else 'behind'}"


def query_string(**values: Any) -> str:
    """A link's query: `?status=failed&after=...`, leaving out what is empty (meaning "any")."""
    given = {key: value for key, value in values.items() if value not in (None, "")}
    return "?" + urlencode(given) if given else "?"
