"""The HTTP adapter: CloudEvents in, instance JSON out, over App."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from ..records import Instance
from .protocol import DEFAULT_MAX_BODY

if TYPE_CHECKING:
    from ..app import App
    from .wsgi import WsgiApp


def wsgi_app(app: "App", token: Optional[str] = None, max_body: int = DEFAULT_MAX_BODY,
             dev: bool = False, bind: str = "127.0.0.1", allowed_hosts: Sequence[str] = ()) -> "WsgiApp":
    """`app`'s CloudEvents endpoint as a WSGI application, for any WSGI server (README, "romancy
    serve"). Instances an event satisfies run in the server's thread once the 202 is sent; timers
    need `romancy serve` or `romancy tick --loop` beside it. Requests must name `bind` (the
    address the server listens on), localhost or one of `allowed_hosts` in Host (421 otherwise)."""
    from .gate import AllowedHosts
    from .wsgi import WsgiApp

    return WsgiApp(app, lambda instances: _run_each(app, instances), token, max_body, dev,
                   AllowedHosts(bind, allowed_hosts))


def _run_each(app: "App", instances: Iterable[Instance]) -> None:
    for instance in instances:
        app.run_leased(instance)
