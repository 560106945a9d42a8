"""`romancy serve`: waitress for CloudEvents, a timer loop, a worker pool, and reload on save."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Optional

from .app import App
from .http.wsgi import DEFAULT_MAX_BODY, WsgiApp
from .records import WAITING_FOR_EVENT, WAITING_FOR_TIMER

log = logging.getLogger("romancy.serve")

# Longest nap of the timer loop: it also notices timers written by other processes and expired
# leases of crashed workers, which do not wake it.
MAX_NAP = 0.5


class Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM to leave waitress's loop."""


class Server:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 8001, workers: int = 4,
                 token: Optional[str] = None, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="romancy-worker")
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.wsgi = WsgiApp(app, self.dispatch, token, max_body)
        self.host, self.port = host, port
        self._http: Any = None
        self._timer = threading.Thread(target=self._timer_loop, name="romancy-timers", daemon=True)

    # -- workers -------------------------------------------------------------------

    def dispatch(self, instance_ids: Iterable[str]) -> None:
        for instance_id in instance_ids:
            self.pool.submit(self._resume, instance_id)

    def _resume(self, instance_id: str) -> None:
        try:
            status = self.app.engine.resume(instance_id)
        except Exception:
            log.exception("resuming %s failed", instance_id)
            return
        if status is not None:
            log.info("resumed %s → %s", instance_id, status)
        if status in (WAITING_FOR_TIMER, WAITING_FOR_EVENT):
            self.wake.set()  # it may now have the earliest due time

    # -- timers --------------------------------------------------------------------

    def tick_once(self) -> Optional[float]:
        """Fire what is due and run what is runnable; returns the next due time."""
        result = self.app.tick()
        for instance_id, status in result.resumed.items():
            log.info("resumed %s → %s", instance_id, status)
        return result.next_wake

    def _timer_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                next_wake = self.tick_once()
            except Exception:
                log.exception("timer loop step failed")
                next_wake = None
            nap = MAX_NAP if next_wake is None else min(MAX_NAP, max(0.0, next_wake - time.time()))
            if nap > 0:
                self.wake.wait(nap)
            self.wake.clear()

    # -- lifecycle -----------------------------------------------------------------

    def bind(self) -> None:
        from waitress.server import create_server

        self._http = create_server(self.wsgi, host=self.host, port=self.port, threads=8,
                                   max_request_body_size=self.wsgi.max_body + 1, ident="romancy")
        self.port = self._http.effective_port

    def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM; then stop accepting, finish in-flight work and return."""
        if self._http is None:
            self.bind()
        self._timer.start()
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        log.info("serving on http://%s:%s/", self.host, self.port)
        try:
            self._http.run()
        except Stop:
            log.info("shutting down")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()

    def close(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self._http is not None:
            self._http.close()
            self._http.task_dispatcher.shutdown()
        self.pool.shutdown(wait=True)
        if self._timer.is_alive():
            self._timer.join(timeout=10)


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop()


def watch_and_serve(command: list[str], files: list[str]) -> int:
    """Run `command` (a serve without reload) and restart it when one of `files` changes."""
    import os
    import shlex

    import watchfiles

    watched = {os.path.abspath(f) for f in files}
    folders = sorted({os.path.dirname(f) for f in watched})

    def changed(changes: set[tuple[Any, str]]) -> None:
        names = ", ".join(sorted({os.path.relpath(path) for _, path in changes}))
        log.warning("reloading: changed %s", names)

    watchfiles.run_process(
        *folders, target=shlex.join(command), target_type="command", callback=changed,
        watch_filter=lambda _change, path: os.path.abspath(path) in watched, sigint_timeout=10,
    )
    return 0
