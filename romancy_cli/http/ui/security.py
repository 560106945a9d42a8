"""Who may use the page and how it defends itself: the bearer token (or the cookie the login
form sets), a same-origin check on every state-changing request, and headers that forbid
inline script and framing."""

from __future__ import annotations

import hmac
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit

COOKIE = "romancy_token"
# 'self' only: no inline script or style, no other origin; nobody may frame the page.
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),  # our own Referer reaches us: the fallback origin check
    ("Cache-Control", "no-store"),
]


def origin_of(environ: dict[str, Any]) -> str:
    """This server's origin as the browser addressed it."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    return f"{scheme}://{host}".lower()


def cross_origin(environ: dict[str, Any]) -> bool:
    """CSRF defence of the JSON endpoints: a request whose Origin names another origin (or
    `null`, an opaque one) was sent by a browser for another site's page. CloudEvents producers
    (curl, SDKs, other servers) send no Origin and are not browsers: they pass."""
    origin = environ.get("HTTP_ORIGIN")
    return origin is not None and origin.lower() != origin_of(environ)


def same_origin(environ: dict[str, Any]) -> bool:
    """CSRF defence: a state-changing request must say it comes from this origin, by Origin or,
    when a browser leaves that out, by Referer. A request with neither is refused: only
    browsers use these endpoints, and every current one sends Origin on a POST."""
    ours = origin_of(environ)
    origin = environ.get("HTTP_ORIGIN")
    if origin:
        return origin.lower() == ours
    referer = environ.get("HTTP_REFERER")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == ours
    return False


def _cookie(environ: dict[str, Any], name: str) -> Optional[str]:
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return unquote(value)
    return None


def _bearer(environ: dict[str, Any]) -> str:
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return credentials.lstrip(" ") if scheme.lower() == "bearer" else ""


def authorized(environ: dict[str, Any], token: Optional[str]) -> bool:
    """The same token rule as the JSON endpoints; the page's cookie counts as the header."""
    if token is None:
        return True
    given = _bearer(environ) or _cookie(environ, COOKIE) or ""
    return hmac.compare_digest(given.encode(), token.encode())


def token_matches(given: str, token: Optional[str]) -> bool:
    return token is not None and hmac.compare_digest(given.encode(), token.encode())


def token_cookie(token: str) -> tuple[str, str]:
    """HttpOnly: no script reads it; SameSite=Strict: no other site's request carries it."""
    return ("Set-Cookie", f"{COOKIE}={quote(token, safe='')}; Path=/; HttpOnly; SameSite=Strict")


def safe_next(target: str) -> str:
    """Where to go after the login form: a path on this server, never another host."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
