"""Schema version and the migration of older databases (migrations.py). A newer or foreign database is refused, never rewritten."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import peewee as pw

from ..errors import DatabaseError
from .migrations import MIGRATIONS, v9_schedules

SCHEMA_VERSION = 12


def _create(db: pw.Database, models: SimpleNamespace) -> None:
    """A new database gets the current schema at once: the models' tables, then those that only
    migrations write, as SQL text (tests/test_migrations.py checks that migrating an older
    database reaches the same schema)."""
    db.create_tables(models.all, safe=True)
    v9_schedules(db)


def _tables(db: pw.Database) -> set[str]:
    """The tables where romancy's would be: on PostgreSQL, the first schema of the search_path
    (peewee looks in `public` otherwise), so a URL with `options=-csearch_path=NAME` keeps romancy
    in a schema of its own."""
    if isinstance(db, pw.PostgresqlDatabase):
        return set(db.get_tables(schema=db.execute_sql("SELECT current_schema()").fetchone()[0]))
    return set(db.get_tables())


def stored_version(db: pw.Database, models: SimpleNamespace, location: str) -> int:
    tables = _tables(db)
    if "romancy_meta" not in tables:
        foreign = sorted(t for t in tables if not t.startswith("romancy_"))
        if foreign:
            raise DatabaseError(
                f"{location} is not a romancy database (it holds tables {', '.join(foreign[:5])}); "
                "point `database` at a new file or an empty PostgreSQL database"
            )
        return 0
    row = models.Meta.get_or_none(models.Meta.key == "schema_version")
    if row is None:
        raise DatabaseError(f"{location} has no romancy schema version; it was not created by romancy-cli")
    return _version_number(row.value, location)


def _version_number(value: str, location: str) -> int:
    """Versions are written as ASCII digits from 1 up; anything else was not written by romancy."""
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise DatabaseError(f"{location} has an unreadable romancy schema version {value!r}; "
                            "point `database` at a new file or restore this one from a backup")
    return int(value)


def _refuse_newer(version: int, location: str) -> None:
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{location} was written by a newer romancy-cli (schema {version}; this version "
            f"knows up to {SCHEMA_VERSION}): upgrade with `pip install -U romancy-cli`"
        )


def migrate(db: pw.Database, models: SimpleNamespace, location: str, lock: Callable[[], None]) -> None:
    """Bring the schema to SCHEMA_VERSION; `lock` serialises concurrent first opens."""
    version = stored_version(db, models, location)
    _refuse_newer(version, location)
    if version == SCHEMA_VERSION:
        return
    with db.atomic():
        lock()
        version = stored_version(db, models, location)
        _refuse_newer(version, location)
        if version == 0:
            _create(db, models)
        else:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](db)
        # Delete + insert rather than REPLACE, which PostgreSQL does not have.
        models.Meta.delete().where(models.Meta.key == "schema_version").execute()
        models.Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).execute()
