"""How many of waitress's threads `serve` runs: one while requests are quick, more while some are slow.

Every thread busy at the same time costs CPU on each request: the threads hand the GIL to one
another at every SQLite call and socket write. Measured on 2 cores (bench/README.md), 8 clients
posting events: 1 thread took 1,100-1,300 events/s at ~0.85 ms of CPU each, 4 threads 715-960
events/s at ~1.3 ms. Yet one thread alone would leave every request queued behind a slow one (an
activity run after a 202, a database locked by another process). So a request busy for longer
than GROW_AFTER gets a thread to stand in for it, up to the `--workers` maximum, and the pool
shrinks back once it is done.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable, Iterable, Optional

GROW_AFTER = 0.05  # seconds a request may run before another thread serves the queue


class ElasticThreads:
    """WSGI middleware that times each request, including what its response's close() runs (the
    instances its events satisfied), plus a thread that resizes the pool through `resize`."""

    def __init__(self, app: Callable[..., Any], maximum: int, resize: Callable[[int], None],
                 grow_after: float = GROW_AFTER) -> None:
        self.app = app
        self.maximum = max(1, maximum)
        self.grow_after = grow_after
        self.size = 1
        self._resize = resize
        self._busy: dict[int, float] = {}  # request -> when it began
        self._requests = itertools.count()
        self._stopping = threading.Event()
        self._watch: Optional[threading.Thread] = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = next(self._requests)
        self._busy[request] = time.monotonic()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._busy.pop(request, None)
            raise
        return _Timed(body, lambda: self._busy.pop(request, None))

    def slow(self) -> int:
        """Requests busy for longer than grow_after."""
        began_before = time.monotonic() - self.grow_after
        return sum(1 for began in list(self._busy.values()) if began < began_before)

    def adjust(self) -> None:
        wanted = min(self.maximum, 1 + self.slow())
        if wanted != self.size:
            self._resize(wanted)
            self.size = wanted

    def start(self) -> None:
        if self.maximum > 1 and self._watch is None:
            self._watch = threading.Thread(target=self._loop, name="romancy-threads", daemon=True)
            self._watch.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
            self._watch = None

    def _loop(self) -> None:
        while not self._stopping.wait(self.grow_after / 2):
            self.adjust()


class _Timed:
    """The app's response body; close() closes it (which may resume instances), then `done`."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], Any]) -> None:
        self._body, self._done = body, done

    def __iter__(self) -> Any:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()
