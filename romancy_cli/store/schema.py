"""Schema version and migrations. A newer or foreign database is refused, never rewritten."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import peewee as pw

from ..errors import DatabaseError

SCHEMA_VERSION = 9

# Version 1's indexes on romancy_instances, replaced by partial ones in version 2.
_V1_INDEXES = ("romancy_instances_status_wake_at", "romancy_instances_workflow_status",
               "romancy_instances_wait_event_type_status_wait_match_keys_2e67f6e")


def _create(db: pw.Database, models: SimpleNamespace) -> None:
    """A new database gets the current schema at once."""
    db.create_tables(models.all, safe=True)


def _v2_partial_indexes(db: pw.Database, models: SimpleNamespace) -> None:
    for name in _V1_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    if models.Instance._meta.without_rowid:  # SQLite: tables are rebuilt clustered on their key
        for model in (models.Instance, models.Step):
            _rebuild(db, model)
    models.Instance._schema.create_indexes(safe=True)


def _rebuild(db: pw.Database, model: type[pw.Model]) -> None:
    """Recreate a table in its model's current form, rows included (SQLite cannot alter it)."""
    table = model._meta.table_name
    # Only the columns the old table has: later versions' columns keep their defaults (SQLite
    # would read a missing "column" as a string literal).
    present = {column.name for column in db.get_columns(table)}
    columns = ", ".join(f'"{field.column_name}"' for field in model._meta.sorted_fields
                        if field.column_name in present)
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_old"')
    model._schema.create_table(safe=False)
    db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}_old"')
    db.execute_sql(f'DROP TABLE "{table}_old"')


def _v3_status_and_consumer_indexes(db: pw.Database, models: SimpleNamespace) -> None:
    """Instances by (status, created_at) for listing and prune; event steps by their event's seq
    for `romancy events` (who consumed it). Both are declared on the models (models.py)."""
    models.Instance._schema.create_indexes(safe=True)
    models.Step._schema.create_indexes(safe=True)


def _v4_wait_for_several_types(db: pw.Database, models: SimpleNamespace) -> None:
    """wait_event(ctx, [type, ...]): the instance row lists the types after the first, and
    romancy_wait_types indexes them by type."""
    # A version 1 database has it already: version 2 rebuilt its table from the current model.
    if "wait_more_types" not in {column.name for column in db.get_columns("romancy_instances")}:
        db.execute_sql('ALTER TABLE "romancy_instances" ADD COLUMN "wait_more_types" TEXT')
    models.WaitType.create_table(safe=True)


def _v5_created_index(db: pw.Database, models: SimpleNamespace) -> None:
    """romancy_instances_created: keyset pages of instances, newest first (the web page)."""
    models.Instance._schema.create_indexes(safe=True)


def _v6_compensating_runnable(db: pw.Database, models: SimpleNamespace) -> None:
    """Status `compensating` is runnable like `running`: the partial index of runnable instances
    takes both, under a new name (the index of version 2 held `running` only)."""
    db.execute_sql('DROP INDEX IF EXISTS "romancy_instances_running"')
    models.Instance._schema.create_indexes(safe=True)


def _v7_outbox(db: pw.Database, models: SimpleNamespace) -> None:
    """romancy_outbox: events published with a relay target, and their delivery state."""
    models.Outbox.create_table(safe=True)


def _v8_continue_as_new(db: pw.Database, models: SimpleNamespace) -> None:
    """continue_as_new: instances link to the run they continued (`continued_from`) and the run
    that continued them (`continued_as`), and `continued_as_new` is an ended status, so the
    partial index of ended instances is made again with it in its condition."""
    # A version 1 database has them already: version 2 rebuilt its table from the current model.
    present = {column.name for column in db.get_columns("romancy_instances")}
    for column in ("continued_from", "continued_as"):
        if column not in present:
            db.execute_sql(f'ALTER TABLE "romancy_instances" ADD COLUMN "{column}" VARCHAR(255)')
    db.execute_sql('DROP INDEX IF EXISTS "romancy_instances_status"')
    models.Instance._schema.create_indexes(safe=True)


def _v9_counts_and_trace(db: pw.Database, models: SimpleNamespace) -> None:
    """The index of instances by workflow also holds status and parked: the counts of GET /metrics
    read it alone, without visiting the rows. `trace_context`: an instance's trace (OpenTelemetry),
    kept across its resumes."""
    # A version 1 database has it already: version 2 rebuilt its table from the current model.
    if "trace_context" not in {column.name for column in db.get_columns("romancy_instances")}:
        db.execute_sql('ALTER TABLE "romancy_instances" ADD COLUMN "trace_context" TEXT')
    db.execute_sql('DROP INDEX IF EXISTS "romancy_instances_workflow"')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "romancy_instances_counts" '
                   'ON "romancy_instances" ("workflow", "status", "parked")')


# MIGRATIONS[n] brings a database from version n - 1 to n; add a function for every schema change.
MIGRATIONS: dict[int, Callable[[pw.Database, SimpleNamespace], None]] = {
    2: _v2_partial_indexes, 3: _v3_status_and_consumer_indexes, 4: _v4_wait_for_several_types,
    5: _v5_created_index, 6: _v6_compensating_runnable, 7: _v7_outbox, 8: _v8_continue_as_new,
    9: _v9_counts_and_trace}


def _tables(db: pw.Database) -> set[str]:
    """The tables where romancy's would be: on PostgreSQL, the first schema of the search_path
    (peewee looks in `public` otherwise), so a URL with `options=-csearch_path=NAME` keeps romancy
    in a schema of its own."""
    if isinstance(db, pw.PostgresqlDatabase):
        return set(db.get_tables(schema=db.execute_sql("SELECT current_schema()").fetchone()[0]))
    return set(db.get_tables())


def stored_version(db: pw.Database, models: SimpleNamespace, location: str) -> int:
    tables = _tables(db)
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
                MIGRATIONS[target](db, models)
        # Delete + insert rather than REPLACE, which PostgreSQL does not have.
        models.Meta.delete().where(models.Meta.key == "schema_version").execute()
        models.Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).execute()
