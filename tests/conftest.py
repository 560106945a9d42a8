"""Shared fixtures. Back-end specific fixtures are named after their back end (sqlite_*, ...)."""

from __future__ import annotations

import signal
import sqlite3
import sys
from pathlib import Path
from typing import Iterator

import pytest

from romancy_cli import App, ManualClock

# Helper modules beside the tests (example_modules, workflows_fixture) import by plain name.
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# A test run started in the background by a non-interactive shell inherits SIGINT ignored, and so
# would the `romancy` processes that tests interrupt with Ctrl-C: give them the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# A fixed, round start time keeps timestamps in assertions readable (2023-11-14T22:13:20Z).
CLOCK_START = 1_700_000_000.0


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock that moves only when a test says so."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    """Path of a fresh SQLite database file (created on first open)."""
    return str(tmp_path / "romancy.db")


@pytest.fixture
def sqlite_app(request: pytest.FixtureRequest, sqlite_path: str, manual_clock: ManualClock) -> Iterator[App]:
    """An initialised App on a real SQLite file, driven by `manual_clock`, running the workflows
    of the test module's `registry` (the default registry when the module has none)."""
    registry = getattr(request.module, "registry", None)
    with App(database=sqlite_path, worker_id="test-worker", clock=manual_clock, registry=registry) as app:
        yield app


@pytest.fixture
def sqlite_rows(sqlite_path: str):
    """rows(sql, *params) -> list of tuples, read through a separate sqlite3 connection."""
    def rows(sql: str, *params: object) -> list[tuple]:
        conn = sqlite3.connect(sqlite_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    return rows


# === PostgreSQL fixtures (owner: store back ends; see tests/pgserver.py) ======================
# pg_server: one throwaway cluster per session (or $ROMANCY_TEST_PG_URL); pg_url: a fresh, empty
# database on it per test. Without server binaries the tests that use them are skipped, unless
# ROMANCY_TEST_PG_REQUIRED=1 (set by .ci/run) turns that into a failure.

import os as _pg_os

import pgserver as _pgserver


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL of the session's PostgreSQL server."""
    try:
        url, stop = _pgserver.session_server()
    except _pgserver.PgUnavailable as exc:
        if _pg_os.environ.get("ROMANCY_TEST_PG_REQUIRED") == "1":
            pytest.fail(f"PostgreSQL required (ROMANCY_TEST_PG_REQUIRED=1): {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    url, drop = _pgserver.Databases(pg_server).create()
    try:
        yield url
    finally:
        drop()
# === end of PostgreSQL fixtures ================================================================
