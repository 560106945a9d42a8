"""A real waitress server on 127.0.0.1 (free port) around a temp SQLite database, for tests."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from romancy_cli import App, Registry, activity, sleep, wait_event, workflow
from romancy_cli.serve import Server

SIDE_EFFECTS: list[str] = []


# The servers of these tests run these workflows only: examples loaded by other tests into the
# default registry (one starts on "order.paid") must not answer their events.
REGISTRY = Registry()


@activity("serve_record_payment", registry=REGISTRY)
def record_payment(ctx: Any, order_id: str) -> dict:
    SIDE_EFFECTS.append(order_id)
    return {"recorded": order_id}


@workflow("serve_order", registry=REGISTRY)
def serve_order(ctx: Any, order_id: str) -> dict:
    event = wait_event(ctx, "order.paid", match={"order_id": order_id})
    record_payment.execute(ctx, order_id)
    return {"order_id": order_id, "amount": event.data.get("amount")}


GATE = threading.Event()  # serve_gated's activity runs until a test sets it


@activity("serve_wait_at_gate", registry=REGISTRY)
def wait_at_gate(ctx: Any) -> bool:
    return GATE.wait(30)


@workflow("serve_gated", registry=REGISTRY)
def serve_gated(ctx: Any) -> bool:
    wait_event(ctx, "gate.open")
    return wait_at_gate.execute(ctx)


REACHED = threading.Event()  # set by serve_until_queued's activity when it starts
QUEUED: list[Callable[[], bool]] = []  # ...which then returns once QUEUED[0]() holds


@activity("serve_until_queued", registry=REGISTRY)
def until_queued(ctx: Any) -> str:
    REACHED.set()
    return "done" if wait_for(QUEUED[0], 10) else "gave up"


@workflow("serve_queued", registry=REGISTRY)
def serve_queued(ctx: Any) -> str:
    wait_event(ctx, "queued.go")
    return until_queued.execute(ctx)


@workflow("serve_queued_then_sleep", registry=REGISTRY)
def serve_queued_then_sleep(ctx: Any) -> str:
    wait_event(ctx, "queued.go")
    until_queued.execute(ctx)
    sleep(ctx, 3600)
    return "woke"


@workflow("serve_nap", registry=REGISTRY)
def serve_nap(ctx: Any, seconds: float) -> str:
    sleep(ctx, seconds)
    return "rested"


@workflow("serve_note", registry=REGISTRY)
def serve_note(ctx: Any) -> dict:
    event = wait_event(ctx, "note")
    return {"subject": event.subject, "data": event.data}


class Running:
    def __init__(self, server: Server, db_path: Path) -> None:
        self.server, self.db_path = server, db_path
        self.app: App = server.app
        self.url = f"http://127.0.0.1:{server.port}/"

    def rows(self, table: str) -> int:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM romancy_{table}").fetchone()[0]

    def wait_for(self, predicate: Callable[[], bool], limit: float = 20.0) -> bool:
        return wait_for(predicate, limit)


def wait_for(predicate: Callable[[], bool], limit: float = 20.0) -> bool:
    """Poll until `predicate` holds; a liveness bound, not a timing assertion."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def run_server(db_path: Path, token: Optional[str] = None, max_body: Optional[int] = None,
               app: Optional[App] = None) -> Iterator[Running]:
    app = app or App(str(db_path), registry=REGISTRY).initialize()
    options: dict[str, Any] = {"token": token}
    if max_body is not None:
        options["max_body"] = max_body
    server = Server(app, host="127.0.0.1", port=0, **options)
    server.start()
    try:
        yield Running(server, db_path)
    finally:
        server.close()
        app.shutdown()
