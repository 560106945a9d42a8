"""Workflows and a server for the web page's tests (default registry: `romancy serve` runs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import requests

from romancy_cli import App, RetryPolicy, activity, sleep, wait_event, workflow
from romancy_cli.serve import Server


@activity("ui_reserve")
def reserve(ctx: Any, order_id: str) -> dict:
    return {"reserved": order_id}


@workflow("ui_order")
def ui_order(ctx: Any, order_id: str, amount: float = 1.0) -> dict:
    """Reserve, then wait for the payment of this order."""
    reserve.execute(ctx, order_id)
    event = wait_event(ctx, "ui.paid", timeout="1h", match={"order_id": order_id})
    return {"order_id": order_id, "paid": event.data.get("amount")}


@workflow("ui_fail")
def ui_fail(ctx: Any, why: str) -> None:
    raise ValueError(f"refused: {why}")  # FAIL_LINE: the page points here


@workflow("ui_nap")
def ui_nap(ctx: Any) -> str:
    sleep(ctx, "1h")
    return "rested"


@activity("ui_shaky", retry=RetryPolicy(max_attempts=3, initial_interval="1h"))
def shaky(ctx: Any) -> str:
    if ctx.attempt < 3:
        raise ConnectionError(f"<i>down</i> on attempt {ctx.attempt}")
    return "up"


@workflow("ui_steady")
def ui_steady(ctx: Any) -> str:
    return shaky.execute(ctx)


FAIL_LINE = next(n for n, line in enumerate(Path(__file__).read_text().splitlines(), 1)
                 if line.endswith("# FAIL_LINE: the page points here"))


class Page:
    """A running server and a client speaking to it as the page's own scripts do."""

    def __init__(self, server: Server) -> None:
        self.server, self.app = server, server.app
        self.url = f"http://127.0.0.1:{server.port}"
        self.origin = {"Origin": self.url}

    def get(self, path: str, html: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "text/html" if html else "application/json", **kwargs.pop("headers", {})}
        return requests.get(self.url + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)

    def act(self, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
            **kwargs: Any) -> requests.Response:
        """A POST as the page sends it: JSON, from this origin (unless `headers` say otherwise)."""
        return requests.post(self.url + path, json=body if body is not None else {},
                             headers=self.origin if headers is None else headers, timeout=10, **kwargs)


def serve_page(db: Path, token: Optional[str] = None, dev: bool = False) -> Iterator[Page]:
    app = App(str(db)).initialize()
    server = Server(app, host="127.0.0.1", port=0, token=token, dev=dev)
    server.start()
    try:
        yield Page(server)
    finally:
        server.close()
        app.shutdown()
