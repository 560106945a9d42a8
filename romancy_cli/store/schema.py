"""Schema version and migrations. A newer or foreign database is refused, never rewritten."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import peewee as pw

from ..errors import DatabaseError

SCHEMA_VERSION = 1


def _create_v1(db: pw.Database, models: SimpleNamespace) -> None:
    db.create_tables(models.all, safe=True)


# Version n is reached by MIGRATIONS[n]; add a function here for every schema change.
MIGRATIONS: dict[int, Callable[[pw.Database, SimpleNamespace], None]] = {1: _create_v1}


def stored_version(db: pw.Database, models: SimpleNamespace, location: str) -> int:
    tables = set(db.get_tables())
    if models.Meta._meta.table_name not in tables:
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
    return int(row.value)


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
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](db, models)
        # Delete + insert rather than REPLACE, which PostgreSQL does not have.
        models.Meta.delete().where(models.Meta.key == "schema_version").execute()
        models.Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).execute()
