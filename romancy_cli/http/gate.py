"""What a request must be before any route sees it: addressed to a name this server answers to
(the guard against DNS rebinding), with a path that is UTF-8 text.

A page of another site whose name an attacker re-points at 127.0.0.1 is same-origin with
itself, so an Origin check passes it; its requests still carry that name in `Host`, which the
browser sets and no script can change. Only names the operator chose are answered."""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Iterable

WILDCARDS = ("", "0.0.0.0", "::")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class Refusal(Exception):
    """A request refused before routing: its status and error type."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type


def host_name(host: str) -> str:
    """The name of a Host header (or of a bind address), without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8001
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # name:port; a bare IPv6 address has more colons
        host = host.partition(":")[0]
    return host.rstrip(".")


def _address(name: str) -> Any:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class AllowedHosts:
    """The names a server answers to: its bind address; `localhost` (no attacker can point it
    elsewhere); 127.0.0.1 and ::1 when bound to loopback; the names given. Bound to every
    address (0.0.0.0, ::) it also answers to any IP address and to the machine's host name: a
    browser sends an address as Host only when it connected to that address itself, and the
    host name is resolved by the visitor's resolver, which the attacker does not control."""

    def __init__(self, bind: str, names: Iterable[str] = ()) -> None:
        bound = host_name(bind)
        self.any_address = bound in WILDCARDS
        self.names = {host_name(name) for name in names} | {"localhost"}
        if self.any_address:
            self.names.add(host_name(socket.gethostname()))
        else:
            self.names.add(bound)
        address = _address(bound)
        if bound == "localhost" or (address is not None and address.is_loopback):
            self.names.update(LOOPBACK_NAMES)

    def allows(self, host: str) -> bool:
        name = host_name(host)
        return name in self.names or (self.any_address and _address(name) is not None)


def admit(environ: dict[str, Any], hosts: AllowedHosts) -> None:
    """Refuse a request to a name not allowed (421); make PATH_INFO the path as text.

    WSGI hands the path's bytes over as latin-1 characters (PEP 3333): `café` would arrive as
    `cafÃ©`. From here on PATH_INFO holds what the client percent-encoded, decoded as UTF-8."""
    host = environ.get("HTTP_HOST") or ""
    if host and not hosts.allows(host):  # no Host at all: not a browser, so not rebinding
        name = host_name(host)
        raise Refusal(421, f"this server does not answer to the name {json.dumps(name)} (a guard against DNS "
                      f"rebinding); to allow it, add it to romancy.toml: [serve] allowed_hosts = "
                      f"[{json.dumps(name)}] (or `romancy serve --allowed-host {name}`)", "MisdirectedRequest")
    try:
        environ["PATH_INFO"] = (environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise Refusal(400, "the request path is not valid UTF-8: percent-encode the UTF-8 bytes of each "
                      "character (café is caf%C3%A9)", "InvalidRequest") from None
    if "\x00" in environ["PATH_INFO"]:  # no id, name or file holds one (PostgreSQL cannot store it)
        raise Refusal(404, "no route for a path with a NUL character", "NotFound")
