"""`romancy serve`: waitress for CloudEvents (its threads also run the instances events satisfy,
as many threads as serve_threads decides), a timer loop, the outbox relay (relay.py), and reload
on save."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable, Optional, Sequence

from .app import App
from .config import OutboxSettings, RetentionSettings, ServeSettings
from .errors import StorageFault
from .http import DEFAULT_MAX_BODY
from .http.gate import AllowedHosts
from .http.wsgi import WsgiApp
from .records import PARKED, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Instance
from .relay import Relay
from .serve_threads import ElasticThreads

log = logging.getLogger("romancy.serve")

# Longest nap of the timer loop: expired leases of crashed workers wake nobody, so it looks again.
MAX_NAP = 1.0
PRUNE_EVERY = 300.0  # seconds between [retention] prunes: deletes are batched, but not free
# The loop also checks its in-process wake flag this often while it waits on the store.
WAKE_SLICE = 0.05
# The reload watcher looks this often (ms) whether its server has ended by itself.
CHILD_POLL_MS = 200
# Seconds a server stopped for a reload gets to finish what is in flight before SIGKILL.
STOP_TIMEOUT = 10
# The pid of the reload watcher, in the environment of the server it starts.
ENV_WATCHER = "ROMANCY_SERVE_WATCHER"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT/SIGTERM to leave waitress's loop (which re-raises
    KeyboardInterrupt from its handlers but swallows ordinary exceptions)."""


class Server:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 8001, workers: int = 4,
                 token: Optional[str] = None, max_body: int = DEFAULT_MAX_BODY,
                 connection_limit: int = ServeSettings.connection_limit,
                 channel_timeout: int = ServeSettings.channel_timeout,
                 retention: RetentionSettings = RetentionSettings(), dev: bool = False,
                 outbox: OutboxSettings = OutboxSettings(), allowed_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self.retention = retention
        self._pruned_at: Optional[float] = None  # monotonic time of the last prune
        self.wake = threading.Event()
        self.stopping = threading.Event()
        from .metrics import Metrics  # prometheus-client: imported by `serve` alone

        self.metrics = Metrics(app)
        self.wsgi = WsgiApp(app, self.dispatch, token, max_body, dev, AllowedHosts(host, allowed_hosts),
                            self.metrics.render)
        self.threads = ElasticThreads(self.wsgi, workers, self._resize)
        self.host, self.port = host, port
        self.connection_limit, self.channel_timeout = connection_limit, channel_timeout
        self._http: Any = None
        self._channels: dict = {}  # waitress's socket map: the listening socket and open connections
        self._timer = threading.Thread(target=self._timer_loop, name="romancy-timers", daemon=True)
        # Its own thread: a slow or absent receiver holds up neither the endpoint nor the timers.
        self._relay = threading.Thread(target=Relay(app, outbox).run, args=(self.stopping,), name="romancy-relay",
                                       daemon=True)
        self._background: Optional[threading.Thread] = None
        self._retried_parked = False

    # -- workers -------------------------------------------------------------------

    def dispatch(self, instances: Iterable[Instance]) -> None:
        """Run instances an event satisfied, as its delivery leased them to this worker; called by
        waitress's thread once the 202 is sent (handing them to another pool cost a thread switch
        per event, measured slower)."""
        for instance in instances:
            self._resume(instance)

    def _resume(self, instance: Instance) -> None:
        instance_id = instance.instance_id
        try:
            status = self.app.run_leased(instance)
            if status is not None:
                self._log_resumed(instance_id, status, instance.workflow)
        except StorageFault as fault:  # the instance stays as last committed, to be recovered
            log.error("resuming %s stopped by a database fault: %s", instance_id, fault,
                      extra={"instance_id": instance_id, "workflow": instance.workflow})
            return
        except Exception:
            log.exception("resuming %s failed", instance_id,
                          extra={"instance_id": instance_id, "workflow": instance.workflow})
            return
        if status in (WAITING_FOR_TIMER, WAITING_FOR_EVENT):
            self.wake.set()  # it may now have the earliest due time

    # -- timers --------------------------------------------------------------------

    def tick_once(self) -> Optional[float]:
        """Fire what is due and run what is runnable; returns the next due time. Parked instances
        are retried once, when this server starts (a reload restarts it with the new code)."""
        result = self.app.tick(retry_parked=not self._retried_parked)
        self._retried_parked = True
        for instance_id, status in result.resumed.items():
            self._log_resumed(instance_id, status)
        self.prune_if_due()
        return result.next_wake

    def _log_resumed(self, instance_id: str, status: str, workflow: Optional[str] = None) -> None:
        about = {"instance_id": instance_id, "status": status, "workflow": workflow}
        if status != PARKED:
            log.info("resumed %s → %s", instance_id, status, extra=about)
            return
        instance = self.app.get(instance_id)
        reason = (instance.error or {}).get("message", "")
        log.warning("resumed %s → parked: %s", instance_id, reason, extra={**about, "workflow": instance.workflow})

    def prune_if_due(self) -> None:
        """Apply [retention] at start and then every PRUNE_EVERY seconds, from the timer loop."""
        if not self.retention.enabled:
            return
        if self._pruned_at is not None and time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        now, keep = self.app.now(), self.retention
        result = self.app.prune(None if keep.completed_after is None else now - keep.completed_after,
                                None if keep.events_after is None else now - keep.events_after)
        if result.instances or result.events:
            log.info("retention: removed %d instance(s) with %d step(s), %d event(s)",
                     result.instances, result.steps, result.events)

    def _timer_loop(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                next_wake = self.tick_once()
            except StorageFault as fault:  # nothing is lost: the next tick retries
                log.error("timer loop: %s", fault)
                next_wake = None
            except Exception:
                log.exception("timer loop step failed")
                next_wake = None
            self._nap(MAX_NAP if next_wake is None else min(MAX_NAP, next_wake - self.app.now()),
                      store_after=began + WAKE_SLICE)

    def _nap(self, seconds: float, store_after: float = 0.0) -> None:
        """Sleep until `seconds` pass, a worker here sets `wake`, or the store reports a change
        from another connection (a timer or event written by another process). The store is
        asked only from `store_after` on: every commit of this server's own threads is such a
        change too, and under load the loop would otherwise tick back to back (~80 ticks/s
        measured with 1,200 events/s)."""
        deadline = time.monotonic() + seconds
        while not (self.wake.is_set() or self.stopping.is_set()):
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                break
            if now < store_after:
                self.wake.wait(min(left, store_after - now))
            elif self._store_woke(min(left, WAKE_SLICE)):
                log.debug("timer loop woken: another connection wrote work")
                break
        if self.wake.is_set():
            log.debug("timer loop woken: a worker here set an earlier due time")
        self.wake.clear()

    def _store_woke(self, timeout: float) -> bool:
        try:
            return self.app.wait_for_wake(timeout)
        except (Exception, StorageFault):  # database gone: the next tick reports it; do not spin
            self.stopping.wait(timeout)
            return False

    # -- lifecycle -----------------------------------------------------------------

    def bind(self) -> None:
        self._http = create_http(self.threads, self.host, self.port, self.wsgi.max_body,
                                 self.connection_limit, self.channel_timeout, self._channels)
        self.port = self._http.effective_port
        # waitress warns of a queue whenever requests outnumber idle threads: with one thread
        # under load that is every request, and expected.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    def _resize(self, threads: int) -> None:
        self._http.task_dispatcher.set_thread_count(threads)

    def start(self) -> None:
        """Serve from background threads (tests, embedding); close() stops."""
        if self._http is None:
            self.bind()
        self._background = threading.Thread(target=self._http.run, name="romancy-http", daemon=True)
        self._background.start()
        self._timer.start()
        self._relay.start()
        self.threads.start()

    def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM; then stop accepting, finish in-flight work and return."""
        if self._http is None:
            self.bind()
        self._timer.start()
        self._relay.start()
        self.threads.start()
        log.info("serving on http://%s:%s/", self.host, self.port)
        run_until_signal(self._http, self.close)

    def close(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.threads.stop()  # first, or it could grow the pool again
        if self._http is not None:
            self._http.task_dispatcher.shutdown()
            if self._background is not None and self._background.is_alive():
                # Close inside waitress's own loop thread; it returns once no channel is open.
                try:
                    self._http.trigger.pull_trigger(self._close_channels)
                except OSError:  # the loop ended meanwhile, and closed its trigger with it
                    self._close_channels()
            else:
                self._close_channels()
        for thread in (self._timer, self._relay, self._background):
            if thread is not None and thread.is_alive():
                thread.join(timeout=10)

    def _close_channels(self) -> None:
        # waitress's loop runs while any channel is open: idle keep-alive clients included.
        for channel in list(self._channels.values()):
            channel.close()


class HoldingServer:
    """What a reloaded server serves while its workflow modules fail to import: events are
    stored (202) and wait, with the instances they satisfy, for the server that starts once the
    code is fixed and saved; `/health/ready` answers 503 with the import error. Nothing runs:
    without its code an instance would fail for good."""

    def __init__(self, app: App, error: str, options: ServeSettings) -> None:
        self.error, self.host, self.port, self.options = error, options.host, options.port, options
        self.wsgi = WsgiApp(app, token=options.token, max_body=options.max_body,
                            hosts=AllowedHosts(options.host, options.allowed_hosts), import_error=error)
        self._http: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/health/ready"
                and self.wsgi.hosts.allows(environ.get("HTTP_HOST") or "localhost")):
            body = json.dumps({"error": self.error, "error_type": "WorkflowImportError",
                               "retryable": True}).encode()
            start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                                       ("Content-Length", str(len(body)))])
            return [body]
        return self.wsgi(environ, start_response)

    def bind(self) -> None:
        options = self.options
        self._http = create_http(self, self.host, self.port, options.max_body, options.connection_limit,
                                 options.channel_timeout)
        self.port = self._http.effective_port

    def serve_forever(self) -> None:
        log.error("%s; fix it and save: the server restarts with it", self.error)
        log.warning("serving on http://%s:%s/ without workflows: events are stored and run once "
                    "the code imports", self.host, self.port)
        run_until_signal(self._http, self.close)

    def close(self) -> None:
        self._http.task_dispatcher.shutdown()
        self._http.close()


def run_until_signal(http: Any, close: Callable[[], None]) -> None:
    """Run waitress's loop until SIGINT/SIGTERM, then put the handlers back and call `close`."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        http.run()  # returns after Stop (waitress swallows KeyboardInterrupt)
    except Stop:
        pass
    finally:
        log.info("shutting down")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close()


def create_http(wsgi: Any, host: str, port: int, max_body: int, connection_limit: int,
                channel_timeout: int, channels: Optional[dict] = None) -> Any:
    """A bound waitress server with one thread; raises OSError when the address is taken.
    `channels` is the socket map it keeps its open connections in (its public `map` argument)."""
    from waitress.server import create_server

    # waitress's own limit answers in plain text; ours (checked first) answers in JSON.
    hard_limit = max(64 * 1024 * 1024, max_body + 1)
    return create_server(
        wsgi, map=channels, host=host, port=port, threads=1, max_request_body_size=hard_limit, ident="romancy",
        connection_limit=connection_limit, channel_timeout=channel_timeout,
        # Idle clients are looked for this often, so one is closed within 1.5 timeouts.
        cleanup_interval=max(1, channel_timeout // 2),
        # select() cannot watch descriptors numbered over 1023; a limit of 1000 connections
        # plus the database's files goes past that.
        asyncore_use_poll=True,
    )


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop()


def _drop_bytecode(path: str) -> None:
    """Python trusts a cached .pyc whose source has the same size and mtime in whole seconds: a
    file saved again within the second it was imported would restart with its old code."""
    import contextlib
    import importlib.util

    if path.endswith(".py"):
        with contextlib.suppress(OSError, ValueError):
            os.remove(importlib.util.cache_from_source(path))


def watch_and_serve(command: list[str], files: list[str], env: dict[str, str]) -> int:
    """Run `command` (a serve without reload) with `env` added to its environment and restart it
    when one of `files` changes. Returns 0 after SIGINT/SIGTERM, or the server's exit code when
    it ends by itself (it could not open the database or the port): a supervisor must see that
    nothing serves, not a watcher that waits for a change."""
    import subprocess

    import watchfiles

    watched = {os.path.abspath(f) for f in files}
    folders = sorted({os.path.dirname(f) for f in watched})
    child_env = {**os.environ, **env, ENV_WATCHER: str(os.getpid())}
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    child = subprocess.Popen(command, env=child_env)
    try:
        for changes in watchfiles.watch(*folders, watch_filter=lambda _, path: os.path.abspath(path) in watched,
                                        rust_timeout=CHILD_POLL_MS, yield_on_timeout=True):
            if child.poll() is not None:
                return _exit_code(child.returncode)
            if changes:
                _log_reload(changes)
                _stop(child)
                child = subprocess.Popen(command, env=child_env)
    except KeyboardInterrupt:  # SIGINT, or SIGTERM through _raise_stop
        pass
    finally:
        _stop(child)
        signal.signal(signal.SIGTERM, previous)
    return 0


def die_with_watcher(watcher_pid: int) -> bool:
    """Have Linux send this server SIGTERM when its reload watcher dies, even by SIGKILL: an
    orphaned server would keep the port from the next `romancy serve`. False when the watcher
    is already gone (it died before the request took effect)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("cannot ask to end with the reload watcher: %s", os.strerror(ctypes.get_errno()))
    return os.getppid() == watcher_pid


def _log_reload(changes: set[tuple[Any, str]]) -> None:
    log.warning("reloading: changed %s", ", ".join(sorted({os.path.relpath(path) for _, path in changes})))
    for _, path in changes:
        _drop_bytecode(path)


def _stop(child: Any) -> None:
    """SIGTERM, time to finish what is in flight, then SIGKILL."""
    import subprocess

    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _exit_code(returncode: int) -> int:
    """A server killed by a signal ends its watcher as a shell reports it: 128 + the signal."""
    return returncode if returncode >= 0 else 128 - returncode
