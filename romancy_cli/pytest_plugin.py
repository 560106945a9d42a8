"""The pytest plugin, registered as `romancy` through the `pytest11` entry point: installing
romancy-cli gives every test suite the `romancy_app` fixture.

    from romancy_cli import Registry, wait_event, workflow, EventTimeout

    registry = Registry()  # this module's workflows: names need only be unique here

    @workflow("pay", registry=registry)
    def pay(ctx, order_id: str) -> str:
        try:
            wait_event(ctx, "paid", timeout="5m", match={"order_id": order_id})
        except EventTimeout:
            return "timed out"
        return "paid"

    def test_unpaid_order_times_out(romancy_app):
        instance_id = pay.start(romancy_app, "ORD-1")
        romancy_app.advance("5m")                 # no wall time passes
        romancy_app.assert_status(instance_id, "completed")
        assert romancy_app.get(instance_id).output == "timed out"

`romancy_app` is a testing.TestApp on a fresh database: a SQLite file in the test's tmp_path, or,
with `pytest --romancy-db postgresql://...`, a schema of its own in that PostgreSQL database
(dropped afterwards). It runs the workflows of the test module's `registry` when it has one, the
default registry otherwise, on a ManualClock.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # imported by the fixture: pytest loads this plugin in every run of every project
    from .testing import TestApp

OPTION = "--romancy-db"


def pytest_addoption(parser: Any) -> None:
    parser.getgroup("romancy").addoption(
        OPTION, default=None, metavar="URL",
        help="run romancy_app on this PostgreSQL database (a fresh schema per test) instead of SQLite")


@pytest.fixture
def romancy_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator["TestApp"]:
    """A TestApp on a fresh database, with the test module's `registry` and a ManualClock."""
    from .definitions import Registry
    from .engine.clock import ManualClock
    from .testing import TestApp

    registry = getattr(request.module, "registry", None)
    url = request.config.getoption(OPTION)
    with (_fresh_schema(url) if url else _sqlite_file(tmp_path)) as database:
        app = TestApp(database, worker_id="test-worker", clock=ManualClock(),
                      registry=registry if isinstance(registry, Registry) else None)
        with app:
            yield app


@contextmanager
def _sqlite_file(folder: Path) -> Iterator[str]:
    yield str(folder / "romancy.db")


@contextmanager
def _fresh_schema(url: str) -> Iterator[str]:
    """`url` with its search_path set to a new schema, dropped afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"romancy_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"
