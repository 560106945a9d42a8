"""The web page of `romancy serve`: server-side HTML (Jinja2), a small plain JS file, no build
step. Everything here goes through App, like the rest of the HTTP adapter.

This module stays light (no Jinja2): WsgiApp asks `wants_page` on every request."""

from __future__ import annotations

from typing import Any

PREFIX = "/ui/"


def wants_page(environ: dict[str, Any]) -> bool:
    """Is this request for the web page: anything under /ui/, or GET / from a browser (a
    CloudEvents POST / and non-browser GETs keep their JSON answers)."""
    path = environ.get("PATH_INFO") or "/"
    if path.startswith(PREFIX):
        return True
    return (path == "/" and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and "text/html" in environ.get("HTTP_ACCEPT", ""))
