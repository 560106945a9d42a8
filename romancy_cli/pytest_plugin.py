"""The pytest plugin, registered as `romancy` through the `pytest11` entry point: installing
romancy-cli gives every test suite the `romancy_app` fixture.

    from romancy_cli import wait_event, workflow, EventTimeout

    @workflow("pay")  # a test module's workflows are its own: names need only be unique here
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
(dropped afterwards), on a ManualClock. It runs the workflows the test module defines (each test
module has a registry of its own, made for it by this plugin) with those of the modules it imports;
a module-level `registry = Registry()` passed as `registry=` to its decorators is used as it is.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # imported by the fixture: pytest loads this plugin in every run of every project
    from .testing import TestApp

OPTION = "--romancy-db"


_TEST_FILES: set[str] = set()  # the test modules pytest collects, by real path
_REGISTRIES: dict[str, Any] = {}  # their own registries, made on their first definition


def pytest_configure(config: Any) -> None:
    from .definitions import route_definitions

    route_definitions(_registry_of)


def pytest_unconfigure(config: Any) -> None:
    from .definitions import route_definitions

    route_definitions(None)


def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> None:
    """Note each test module before it is imported: its workflows go to a registry of its own."""
    _TEST_FILES.add(os.path.realpath(module_path))


def _registry_of(filename: str) -> Any:
    path = os.path.realpath(filename)
    if path not in _TEST_FILES:
        return None
    if path not in _REGISTRIES:
        from .definitions import Registry

        _REGISTRIES[path] = Registry()
    return _REGISTRIES[path]


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
    if not isinstance(registry, Registry):
        registry = _module_registry(request.module)
    url = request.config.getoption(OPTION)
    with (_fresh_schema(url) if url else _sqlite_file(tmp_path)) as database:
        app = TestApp(database, worker_id="test-worker", clock=ManualClock(), registry=registry)
        with app:
            yield app


def _module_registry(module: Any) -> Any:
    """The test module's own workflows over the default registry's (those of the modules it
    imports); None when it defined none: the default registry."""
    from .definitions import REGISTRY, Registry

    own = _REGISTRIES.get(os.path.realpath(getattr(module, "__file__", "") or ""))
    if own is None:
        return None
    merged = Registry()
    merged.workflows = {**REGISTRY.workflows, **own.workflows}
    merged.activities = {**REGISTRY.activities, **own.activities}
    return merged


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
