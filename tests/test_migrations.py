"""Frozen migrations: a database at every earlier schema version, built from that version's own
DDL (tests/schemas/, as romancy-cli of that version created it) with a waiting instance and an
event in it, is migrated by today's code; its schema must then equal a fresh database's
(tables, columns, indexes) and the instance must go on. Both back ends."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from romancy_cli import App, ManualClock, Registry, wait_event, workflow
from romancy_cli.store.schema import SCHEMA_VERSION

SCHEMAS = Path(__file__).parent / "schemas"
NOW = 1_700_000_000.0
registry = Registry()


@workflow("migrated_wait", registry=registry)
def migrated_wait(ctx: Any, order: str) -> dict:
    return {"order": order, "got": wait_event(ctx, "migrated.go").data}


def _ddl(backend: str, version: int) -> list[str]:
    text = (SCHEMAS / f"{backend}_v{version}.sql").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


class Db:
    """A plain driver connection (not romancy's) to read and write one database."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.conn: Any = sqlite3.connect(url) if backend == "sqlite" else psycopg.connect(url, autocommit=True)

    def run(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.backend == "postgres":
            sql = sql.replace("?", "%s")
        cursor = self.conn.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        if self.backend == "sqlite":
            self.conn.commit()
        return rows

    def columns(self, table: str) -> set[str]:
        if self.backend == "sqlite":
            return {row[1] for row in self.run(f'PRAGMA table_info("{table}")')}
        return {row[0] for row in self.run("SELECT column_name FROM information_schema.columns "
                                           "WHERE table_name = ?", (table,))}

    def schema(self) -> dict[str, Any]:
        """Tables with their columns (name, type, nullable) and each index's definition."""
        if self.backend == "sqlite":
            tables = {name: (sql.endswith("WITHOUT ROWID"), sorted(
                (r[1], r[2], r[3], r[5]) for r in self.run(f'PRAGMA table_info("{name}")')))
                for name, sql in self.run("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
            indexes = dict(self.run("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
            return {"tables": tables, "indexes": {n: " ".join(s.split()) if s else s for n, s in indexes.items()}}
        columns: dict[str, list] = {}
        for table, *column in self.run("SELECT table_name, column_name, data_type, is_nullable, column_default "
                                       "FROM information_schema.columns WHERE table_schema = 'public'"):
            columns.setdefault(table, []).append(tuple(column))
        indexes = dict(self.run("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        return {"tables": {t: sorted(c) for t, c in columns.items()}, "indexes": indexes}

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _url(backend: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return str(tmp_path / f"{name}.db")
    return str(request.getfixturevalue("pg_url")) if name == "old" else _fresh_pg(request)


def _fresh_pg(request: pytest.FixtureRequest) -> str:
    import pgserver

    url, drop = pgserver.Databases(request.getfixturevalue("pg_server")).create()
    request.addfinalizer(drop)
    return url


def _rows_of_a_waiting_instance(url: str) -> dict[str, list[dict]]:
    """What today's code writes for an event, then an instance waiting for the next one."""
    with App(database=url, worker_id="fresh", clock=ManualClock(NOW), registry=registry) as app:
        app.send_event("migrated.before", {"n": 0})
        app.start("migrated_wait", "ORD-1")
        db = app.store.db
        rows = {}
        for table in ("romancy_events", "romancy_instances", "romancy_steps"):
            cursor = db.execute_sql(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            rows[table] = [dict(zip(names, row)) for row in cursor.fetchall()]
        return rows


def _build_old(db: Db, version: int, rows: dict[str, list[dict]]) -> None:
    for statement in _ddl(db.backend, version):
        db.run(statement)
    db.run("INSERT INTO romancy_meta (key, value) VALUES (?, ?)", ("schema_version", str(version)))
    for table, table_rows in rows.items():
        present = db.columns(table)
        for row in table_rows:
            kept = {k: v for k, v in row.items() if k in present}
            names = ", ".join(f'"{k}"' for k in kept)
            db.run(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(kept))})', tuple(kept.values()))
    if db.backend == "postgres":  # as if the rows had been inserted without their seq
        db.run("SELECT setval(pg_get_serial_sequence('romancy_events', 'seq'), MAX(seq)) FROM romancy_events")


def test_every_version_has_its_ddl_on_record() -> None:
    for backend in ("sqlite", "postgres"):
        assert [v for v in range(1, SCHEMA_VERSION + 1) if not (SCHEMAS / f"{backend}_v{v}.sql").exists()] == [], \
            "a schema change needs its new version's DDL in tests/schemas/ (see ARCHITECTURE.md, Migrations)"


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_a_database_of_an_earlier_version_migrates_to_the_fresh_schema(
        backend: str, version: int, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    fresh_url, old_url = _url(backend, request, tmp_path, "fresh"), _url(backend, request, tmp_path, "old")
    rows = _rows_of_a_waiting_instance(fresh_url)
    old = Db(backend, old_url)
    try:
        _build_old(old, version, rows)
    finally:
        old.close()
    with App(database=old_url, worker_id="migrated", clock=ManualClock(NOW + 1), registry=registry) as app:
        (instance_id,) = [r["instance_id"] for r in rows["romancy_instances"]]
        assert app.send_event("migrated.go", {"ok": True}).resumed == {instance_id: "completed"}
        assert app.get(instance_id).output == {"order": "ORD-1", "got": {"ok": True}}
    fresh, migrated = Db(backend, fresh_url), Db(backend, old_url)
    try:
        assert migrated.run("SELECT value FROM romancy_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
        assert migrated.schema() == fresh.schema()
    finally:
        fresh.close()
        migrated.close()
