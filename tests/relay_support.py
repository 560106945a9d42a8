"""A scripted CloudEvents receiver on 127.0.0.1 for the outbox relay tests: it answers each
request with the next status of its script (then `then`), and records every request it got, when,
and how many requests for the same event were in flight at once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


@dataclass(frozen=True)
class Received:
    at: float
    source: str
    id: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, script: tuple[int, ...] = (), then: int = 202, port: int = 0, delay: float = 0.0) -> None:
        self.script, self.then, self.delay = list(script), then, delay
        self.received: list[Received] = []
        self.overlaps = 0  # requests that arrived while another one for the same event was in flight
        self._in_flight: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.take(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        return Handler

    def take(self, headers: object, body: bytes) -> int:
        plain = {k.lower(): v for k, v in headers.items()}  # type: ignore[attr-defined]
        key = (plain.get("ce-source", ""), plain.get("ce-id", ""))
        with self._lock:
            self.received.append(Received(time.time(), *key, plain, body))
            self.overlaps += self._in_flight.get(key, 0) > 0
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            status = self.script.pop(0) if self.script else self.then
        time.sleep(self.delay)  # widen the window in which a second sender would overlap
        with self._lock:
            self._in_flight[key] -= 1
        return status

    def ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate: Callable[[], bool], limit: float = 20.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def closed_port() -> int:
    """A port nothing listens on (connection refused), free for a Receiver to take later."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outbox_toml(url: Optional[str], **settings: object) -> str:
    lines = ["[outbox]"] + ([f'url = "{url}"'] if url else [])
    lines += [f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"'
              for key, value in settings.items()]
    return "\n".join(lines) + "\n"
