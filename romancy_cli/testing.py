"""Helpers for testing your own workflows: a temporary database, a manual clock, time skipping.

    from romancy_cli.testing import advance, run_until_idle, temporary_app

    def test_order_is_cancelled_when_unpaid(tmp_path):
        with temporary_app(tmp_path) as app:
            instance_id = order_with_timeout.start(app, "ORD-1")
            advance(app, "60s")                      # fires the sleep, runs the instance
            assert app.get(instance_id).status == "completed"

Workflows defined in a test module can go into a Registry of their own, so their names need not
be unique across modules and stay out of the default registry:

    from romancy_cli import Registry, sleep, workflow

    registry = Registry()

    @workflow("nap", registry=registry)
    def nap(ctx) -> str:
        sleep(ctx, "1h")
        return "rested"

    def test_nap(tmp_path):
        with temporary_app(tmp_path, registry=registry) as app:
            instance_id = nap.start(app)
            advance(app, "1h")
            assert app.get(instance_id).output == "rested"

Everything runs on a real SQLite file (WAL, locking and all), never an in-memory stand-in.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack, contextmanager
from typing import Iterator, Optional, Union

from .app import App
from .definitions import Registry
from .durations import Duration
from .engine.clock import ManualClock
from .engine.ports import Clock
from .errors import RomancyError, UsageError
from .records import PARKED, RUNNING

PathLike = Union[str, "os.PathLike[str]"]


@contextmanager
def temporary_app(path: Optional[PathLike] = None, *, clock: Optional[Clock] = None,
                  registry: Optional[Registry] = None, worker_id: str = "test-worker",
                  lease_seconds: float = 30.0) -> Iterator[App]:
    """An initialised App on a fresh SQLite file with a ManualClock (unless `clock` is given),
    running the workflows of `registry` (by default those defined without `registry=`).

    `path` is a folder (the file `romancy.db` is created in it, e.g. pytest's tmp_path), a file
    path, or None for a temporary folder removed afterwards."""
    with ExitStack() as stack:
        if path is None:
            path = stack.enter_context(tempfile.TemporaryDirectory(prefix="romancy-test-"))
        database = os.fspath(path)
        if os.path.isdir(database):
            database = os.path.join(database, "romancy.db")
        app = App(database=database, worker_id=worker_id, clock=clock or ManualClock(),
                  registry=registry, lease_seconds=lease_seconds)
        yield stack.enter_context(app)


def run_until_idle(app: App, max_ticks: int = 100) -> dict[str, str]:
    """Tick at the app's current time until a tick fires nothing and moves no instance on.

    Returns the last status of every instance a tick ran. Parked (non-deterministic) instances
    are tried once per tick and do not count as progress."""
    statuses: dict[str, str] = {}
    for _ in range(max_ticks):
        result = app.tick()
        statuses.update(result.resumed)
        if not result.fired and all(status in (RUNNING, PARKED) for status in result.resumed.values()):
            return statuses
    raise RomancyError(f"instances still progressing after {max_ticks} ticks: {statuses}")


def advance(app: App, duration: Duration) -> dict[str, str]:
    """Move the app's ManualClock forward by `duration`, then run until idle."""
    clock = app.clock
    if not isinstance(clock, ManualClock):
        raise UsageError("advance() needs an App with a ManualClock; use temporary_app() or App(clock=ManualClock())")
    clock.advance(duration)
    return run_until_idle(app)


class TestApp(App):
    """An App for tests (the `romancy_app` fixture of the pytest plugin): a ManualClock, and helpers
    to skip time and check what instances did."""

    __test__ = False  # a class named Test* that pytest must not collect

    def advance(self, duration: Duration) -> dict[str, str]:
        """Skip `duration` of time and run what falls due: `romancy_app.advance("48h")`."""
        return advance(self, duration)

    def run_until_idle(self) -> dict[str, str]:
        return run_until_idle(self)

    def steps(self, instance_id: str) -> list[tuple[str, str]]:
        """The instance's history as (kind, name) pairs, e.g. [("activity", "charge"), ("event", "paid")]."""
        return [(step.kind, step.name) for step in self.history(instance_id)]

    def assert_status(self, instance_id: str, status: str) -> None:
        """Fail with the instance's error and wait when it is not in `status`."""
        instance = self.get(instance_id)
        if instance.status != status:
            raise AssertionError(f"{instance_id} is {instance.status}, not {status}; error: {instance.error}; "
                                 f"waiting: {instance.wait}; steps: {self.steps(instance_id)}")


__all__ = ["temporary_app", "run_until_idle", "advance", "ManualClock", "TestApp"]
