"""The migrations, frozen: each writes the DDL of its own version as SQL text and never reads
today's models (models.py), so that editing a model cannot change what an old migration does.
tests/test_migrations.py builds a database at every earlier version from that version's DDL,
migrates it and compares the schema with a fresh one.

Column types are written once per back end through the placeholders of `_TYPES`."""

from __future__ import annotations

from typing import Callable

import peewee as pw

_TYPES = {
    "sqlite": {"varchar": "VARCHAR(255)", "real": "REAL", "bigint": "INTEGER", "bool": "INTEGER",
               "clustered": " WITHOUT ROWID", "event_seq": "json_extract(result, '$.seq')"},
    "postgres": {"varchar": "VARCHAR", "real": "DOUBLE PRECISION", "bigint": "BIGINT", "bool": "BOOLEAN",
                 "clustered": "", "event_seq": "((result::jsonb ->> 'seq')::bigint)"},
}


def _dialect(db: pw.Database) -> str:
    return "sqlite" if isinstance(db, pw.SqliteDatabase) else "postgres"


def _run(db: pw.Database, *statements: str) -> None:
    types = _TYPES[_dialect(db)]
    for statement in statements:
        db.execute_sql(statement.format(**types))


def _columns(db: pw.Database, table: str) -> set[str]:
    return {column.name for column in db.get_columns(table)}


# Version 2's tables on SQLite, clustered on their keys (version 1's had a rowid table beside).
_V2_INSTANCES = (
    'CREATE TABLE "romancy_instances" ("instance_id" {varchar} NOT NULL PRIMARY KEY, '
    '"workflow" {varchar} NOT NULL, "status" {varchar} NOT NULL, "args" TEXT NOT NULL, "kwargs" TEXT NOT NULL, '
    '"output" TEXT, "error" TEXT, "created_at" {real} NOT NULL, "updated_at" {real} NOT NULL, '
    '"wait_kind" {varchar}, "wait_seq" INTEGER, "wait_event_type" {varchar}, "wait_match" TEXT, '
    '"wait_match_keys" TEXT, "wait_attempt" INTEGER NOT NULL, "wake_at" {real}, "event_floor" {bigint} NOT NULL, '
    '"parked" {bool} NOT NULL, "lease_owner" {varchar}, "lease_until" {real}){clustered}')
_V2_STEPS = ('CREATE TABLE "romancy_steps" ("instance_id" {varchar} NOT NULL, "seq" INTEGER NOT NULL, '
             '"kind" {varchar} NOT NULL, "name" {varchar} NOT NULL, "result" TEXT NOT NULL, '
             'PRIMARY KEY ("instance_id", "seq")){clustered}')


def _rebuild_clustered(db: pw.Database, table: str, create: str) -> None:
    """SQLite cannot alter a table into WITHOUT ROWID: copy it into a new one. Only the columns
    both have are copied (a database migrated by an earlier release may have more)."""
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_old"')
    _run(db, create)
    columns = ", ".join(f'"{name}"' for name in sorted(_columns(db, table) & _columns(db, f"{table}_old")))
    db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}_old"')
    db.execute_sql(f'DROP TABLE "{table}_old"')


def v2_partial_indexes(db: pw.Database) -> None:
    """Partial indexes on instances, each holding only what its queries look for."""
    for name in ("romancy_instances_status_wake_at", "romancy_instances_workflow_status",
                 "romancy_instances_wait_event_type_status_wait_match_keys_2e67f6e"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    if _dialect(db) == "sqlite":
        _rebuild_clustered(db, "romancy_instances", _V2_INSTANCES)
        _rebuild_clustered(db, "romancy_steps", _V2_STEPS)
    _run(db,
         'CREATE INDEX IF NOT EXISTS "romancy_instances_due" ON "romancy_instances" ("wake_at") '
         'WHERE ("wake_at" IS NOT NULL)',
         'CREATE INDEX IF NOT EXISTS "romancy_instances_waiting" ON "romancy_instances" '
         '("wait_event_type", "status", "wait_match_keys", "wait_match") WHERE ("wait_event_type" IS NOT NULL)',
         'CREATE INDEX IF NOT EXISTS "romancy_instances_running" ON "romancy_instances" ("updated_at") '
         "WHERE (\"status\" = 'running')",
         'CREATE INDEX IF NOT EXISTS "romancy_instances_workflow" ON "romancy_instances" ("workflow")')


def v3_status_and_consumer_indexes(db: pw.Database) -> None:
    """Ended instances by status (listing, prune); event steps by their event's seq (who
    consumed an event)."""
    _run(db,
         'CREATE INDEX IF NOT EXISTS "romancy_instances_status" ON "romancy_instances" '
         "(\"status\", \"created_at\", \"instance_id\") WHERE (\"status\" IN ('cancelled', 'completed', 'failed'))",
         "CREATE INDEX IF NOT EXISTS romancy_steps_event_seq ON romancy_steps ({event_seq}) WHERE kind = 'event'")


def v4_wait_for_several_types(db: pw.Database) -> None:
    """wait_event(ctx, [type, ...]): the instance lists the types after the first, and
    romancy_wait_types indexes them by type."""
    # A database that an earlier release migrated from version 1 has the column already.
    if "wait_more_types" not in _columns(db, "romancy_instances"):
        db.execute_sql('ALTER TABLE "romancy_instances" ADD COLUMN "wait_more_types" TEXT')
    _run(db,
         'CREATE TABLE IF NOT EXISTS "romancy_wait_types" ("instance_id" {varchar} NOT NULL, '
         '"event_type" {varchar} NOT NULL, "wait_seq" INTEGER NOT NULL, PRIMARY KEY ("instance_id", "event_type"))',
         'CREATE INDEX IF NOT EXISTS "romancy_wait_types_event_type" ON "romancy_wait_types" ("event_type")')


def v5_created_index(db: pw.Database) -> None:
    """Keyset pages of instances, newest first (the web page)."""
    _run(db, 'CREATE INDEX IF NOT EXISTS "romancy_instances_created" ON "romancy_instances" '
             '("created_at", "instance_id")')


def v6_compensating_runnable(db: pw.Database) -> None:
    """`compensating` is runnable like `running`: the partial index of runnable instances takes
    both, under a new name."""
    _run(db, 'DROP INDEX IF EXISTS "romancy_instances_running"',
         'CREATE INDEX IF NOT EXISTS "romancy_instances_runnable" ON "romancy_instances" ("updated_at") '
         "WHERE (\"status\" IN ('running', 'compensating'))")


def v7_outbox(db: pw.Database) -> None:
    """romancy_outbox: events published with a relay target, and their delivery state."""
    _run(db,
         'CREATE TABLE IF NOT EXISTS "romancy_outbox" ("event_seq" {bigint} NOT NULL PRIMARY KEY, '
         '"target" TEXT NOT NULL, "status" {varchar} NOT NULL, "attempts" INTEGER NOT NULL, "last_error" TEXT, '
         '"next_attempt_at" {real}, "lease_owner" {varchar}, "lease_until" {real})',
         'CREATE INDEX IF NOT EXISTS "romancy_outbox_due" ON "romancy_outbox" ("next_attempt_at") '
         "WHERE (\"status\" = 'pending')")


def v8_continue_as_new(db: pw.Database) -> None:
    """continue_as_new: the links between runs, and `continued_as_new` among the ended statuses
    of the partial index of ended instances."""
    present = _columns(db, "romancy_instances")
    for column in ("continued_from", "continued_as"):
        if column not in present:  # present when an earlier release migrated it from version 1
            _run(db, f'ALTER TABLE "romancy_instances" ADD COLUMN "{column}" {{varchar}}')
    _run(db, 'DROP INDEX IF EXISTS "romancy_instances_status"',
         'CREATE INDEX IF NOT EXISTS "romancy_instances_status" ON "romancy_instances" '
         "(\"status\", \"created_at\", \"instance_id\") "
         "WHERE (\"status\" IN ('cancelled', 'completed', 'continued_as_new', 'failed'))")


# Schema 9's tables, as SQL that SQLite and PostgreSQL both read (DOUBLE PRECISION is REAL on
# SQLite). Times are epoch seconds; spec and input are JSON text.
_V9_DDL = (
    """CREATE TABLE IF NOT EXISTS romancy_schedules (
        schedule_id VARCHAR(255) NOT NULL PRIMARY KEY,
        workflow VARCHAR(255) NOT NULL,
        spec TEXT NOT NULL,
        timezone VARCHAR(255) NOT NULL,
        input TEXT NOT NULL,
        overlap VARCHAR(16) NOT NULL,
        catchup_window DOUBLE PRECISION NOT NULL,
        jitter DOUBLE PRECISION NOT NULL,
        paused INTEGER NOT NULL,
        note TEXT,
        source VARCHAR(8) NOT NULL,
        next_slot DOUBLE PRECISION,
        due_at DOUBLE PRECISION,
        buffered DOUBLE PRECISION,
        last_instance VARCHAR(255),
        last_fired_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        version INTEGER NOT NULL)""",
    # The firing's reads (due schedules, the next wake-up) look at active schedules only.
    "CREATE INDEX IF NOT EXISTS romancy_schedules_due ON romancy_schedules (due_at) WHERE paused = 0",
    """CREATE TABLE IF NOT EXISTS romancy_schedule_runs (
        schedule_id VARCHAR(255) NOT NULL,
        slot DOUBLE PRECISION NOT NULL,
        outcome VARCHAR(16) NOT NULL,
        instance_id VARCHAR(255),
        recorded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (schedule_id, slot))""",
)


def v9_schedules(db: pw.Database) -> None:
    """romancy_schedules: schedules and where their firing stands; romancy_schedule_runs: what
    became of their recent slots. Written as SQL text, independent of the models."""
    for statement in _V9_DDL:
        db.execute_sql(statement)


# Version 10's table of events on SQLite, written out: a migration keeps the DDL of its version.
_V10_EVENTS_SQLITE = (
    'CREATE TABLE "romancy_events" ("seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"source" VARCHAR(255) NOT NULL, "event_id" VARCHAR(255) NOT NULL, "type" VARCHAR(255) NOT NULL, '
    '"subject" TEXT, "time" VARCHAR(255), "data" TEXT, "data_content_type" VARCHAR(255), "data_schema" TEXT, '
    '"extensions" TEXT, "target" VARCHAR(255), "received_at" REAL NOT NULL, "consumed_by" TEXT)')
_V10_EVENT_COLUMNS = ("seq", "source", "event_id", "type", "subject", "time", "data", "data_content_type",
                     "data_schema", "extensions", "target", "received_at", "consumed_by")
# The greatest event number still written anywhere: an event's, an instance's floor, the event
# an event step recorded (timeouts record none), an outbox entry's. Numbers start above it.
_V10_HIGHEST_SEQ = (
    "SELECT COALESCE(MAX(n), 0) FROM (SELECT MAX(seq) AS n FROM romancy_events "
    "UNION ALL SELECT MAX(event_floor) FROM romancy_instances "
    "UNION ALL SELECT MAX(json_extract(result, '$.seq')) FROM romancy_steps WHERE kind = 'event' "
    "UNION ALL SELECT MAX(event_seq) FROM romancy_outbox) AS seqs")


def v10_event_numbers(db: pw.Database) -> None:
    """Event numbers are never handed out twice, and pruned consumers are remembered.

    SQLite gave a new event the greatest stored seq + 1, so after prune deleted the newest events
    their numbers came again: at or below the floor of instances started earlier (never delivered
    to them) and equal to seqs that event steps recorded (shown consumed by those instances). The
    table is rebuilt with AUTOINCREMENT, its indexes kept, and its counter starts above every
    number still written anywhere. A PostgreSQL sequence never goes back: it only gets the column.
    `consumed_by`: see models.EventRow."""
    present = {column.name for column in db.get_columns("romancy_events")}
    if not isinstance(db, pw.SqliteDatabase):
        if "consumed_by" not in present:
            db.execute_sql('ALTER TABLE "romancy_events" ADD COLUMN "consumed_by" TEXT')
        return
    indexes = [row[0] for row in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'romancy_events' AND sql IS NOT NULL")]
    columns = ", ".join(f'"{name}"' for name in _V10_EVENT_COLUMNS if name in present)
    db.execute_sql('ALTER TABLE "romancy_events" RENAME TO "romancy_events_v9"')
    db.execute_sql(_V10_EVENTS_SQLITE)
    db.execute_sql(f'INSERT INTO "romancy_events" ({columns}) SELECT {columns} FROM "romancy_events_v9"')
    db.execute_sql('DROP TABLE "romancy_events_v9"')  # and its indexes, made again on the new table
    for statement in indexes:
        db.execute_sql(statement)
    highest = db.execute_sql(_V10_HIGHEST_SEQ).fetchone()[0]
    db.execute_sql("DELETE FROM sqlite_sequence WHERE name = 'romancy_events'")
    db.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('romancy_events', ?)", (int(highest),))


def v11_children(db: pw.Database) -> None:
    """Workflows that call workflows: a child's parent, what its parent's end does to it, and the
    id its parent knows it by; children found by their parent. Competing event waits. Queues:
    an instance's queue and when it got its slot, and a queue's instances by status and age."""
    present = _columns(db, "romancy_instances")
    for column, kind in (("parent_id", "varchar"), ("parent_close", "varchar"), ("chain_id", "varchar"),
                         ("wait_competing", "bool"), ("queue", "varchar"), ("started_at", "real")):
        if column not in present:  # present when the tables were created by a later release's models
            _run(db, f'ALTER TABLE "romancy_instances" ADD COLUMN "{column}" {{{kind}}}')
    _run(db, 'CREATE INDEX IF NOT EXISTS "romancy_instances_parent" ON "romancy_instances" ("parent_id") '
             'WHERE ("parent_id" IS NOT NULL)',
         'CREATE INDEX IF NOT EXISTS "romancy_instances_queue" ON "romancy_instances" ("queue", "status", '
         '"created_at") WHERE ("queue" IS NOT NULL)')


def v12_counts_and_trace(db: pw.Database) -> None:
    """The index of instances by workflow also holds status and parked: the counts of GET /metrics
    read it alone, without visiting the rows. `trace_context`: an instance's trace (OpenTelemetry),
    kept across its resumes."""
    # Present when an earlier release created or rebuilt the table from its models.
    if "trace_context" not in {column.name for column in db.get_columns("romancy_instances")}:
        db.execute_sql('ALTER TABLE "romancy_instances" ADD COLUMN "trace_context" TEXT')
    db.execute_sql('DROP INDEX IF EXISTS "romancy_instances_workflow"')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "romancy_instances_counts" '
                   'ON "romancy_instances" ("workflow", "status", "parked")')


# MIGRATIONS[n] brings a database from version n - 1 to n; add a function for every schema change.
MIGRATIONS: dict[int, Callable[[pw.Database], None]] = {
    2: v2_partial_indexes, 3: v3_status_and_consumer_indexes, 4: v4_wait_for_several_types,
    5: v5_created_index, 6: v6_compensating_runnable, 7: v7_outbox, 8: v8_continue_as_new,
    9: v9_schedules, 10: v10_event_numbers, 11: v11_children, 12: v12_counts_and_trace}
