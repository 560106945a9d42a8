"""peewee models, created per database so that no model is bound globally."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import peewee as pw

from ..records import FAILED, PENDING, RUNNABLE, TERMINAL

# "Ended" is defined once, by records.TERMINAL; every other status is live, so a status added
# later is live (it holds its events, prune keeps it) unless it is made an ended one there.
ENDED = tuple(sorted(TERMINAL))  # written as literals where the index of ended instances is to be used
# Literal, as in the partial index romancy_instances_status, for the planners to use it.
ENDED_SQL = "status IN (" + ", ".join(f"'{status}'" for status in ENDED) + ")"
# Statuses whose instances hold no claim on events any more: prune may delete the events they did
# not take. A failed instance keeps its claim until it is pruned itself: `romancy retry` runs it on.
RELEASED_SQL = "status IN (" + ", ".join(f"'{status}'" for status in sorted(TERMINAL - {FAILED})) + ")"
COUNTS_INDEX = "romancy_instances_counts"
RUNNABLE_INDEX = "romancy_instances_runnable"  # schema 6; version 2 named it "..._running", for `running` only

# The seq of the event an event step recorded, as SQL: the step's result is JSON text. Queries
# spell it exactly so, for the planners to use the index on it (who consumed an event).
EVENT_SEQ_SQLITE = "json_extract(result, '$.seq')"
EVENT_SEQ_POSTGRES = "((result::jsonb ->> 'seq')::bigint)"


# Whether an event step `s` recorded the event of a (source, id): two parameters.
EVENT_KEY_SQLITE = "json_extract(s.result, '$.source') = ? AND json_extract(s.result, '$.id') = ?"
EVENT_KEY_POSTGRES = "(s.result::jsonb ->> 'source') = ? AND (s.result::jsonb ->> 'id') = ?"


def event_seq_sql(db: pw.Database) -> str:
    return EVENT_SEQ_SQLITE if isinstance(db, pw.SqliteDatabase) else EVENT_SEQ_POSTGRES


def event_key_sql(db: pw.Database) -> str:
    return EVENT_KEY_SQLITE if isinstance(db, pw.SqliteDatabase) else EVENT_KEY_POSTGRES


class _AutoIncrement(pw.AutoField):
    """SQLite's INTEGER PRIMARY KEY AUTOINCREMENT, as playhouse.sqlite_ext's AutoIncrementField
    writes it, without importing that module (its full-text search parts cost every command ~9 ms)."""

    def ddl(self, ctx: Any) -> pw.NodeList:
        return pw.NodeList((super().ddl(ctx), pw.SQL("AUTOINCREMENT")))


def make_models(db: pw.Database) -> SimpleNamespace:
    # SQLite: steps and instances are kept in their primary key's B-tree, without a rowid table
    # beside it: one page fewer to write per step, one lookup fewer per read.
    clustered = isinstance(db, pw.SqliteDatabase)
    # PostgreSQL: VARCHAR without a length. SQLite never enforced 255, and CloudEvents ids and
    # sources have no limit.
    length = 255 if clustered else None

    def char(**options: Any) -> pw.CharField:
        return pw.CharField(max_length=length, **options)

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Meta(Base):
        key = char(primary_key=True)
        value = pw.TextField()

        class Meta:
            table_name = "romancy_meta"

    class InstanceRow(Base):
        instance_id = char(primary_key=True)
        workflow = char()
        status = char()
        args = pw.TextField()
        kwargs = pw.TextField()
        output = pw.TextField(null=True)
        error = pw.TextField(null=True)
        created_at = pw.DoubleField()
        updated_at = pw.DoubleField()
        wait_kind = char(null=True)
        wait_seq = pw.IntegerField(null=True)
        wait_event_type = char(null=True)
        wait_match = pw.TextField(null=True)  # canonical JSON of the match values
        wait_match_keys = pw.TextField(null=True)  # canonical JSON of the match paths
        wait_attempt = pw.IntegerField(default=0)
        wait_more_types = pw.TextField(null=True)  # JSON list: an event wait's types after the first
        wake_at = pw.DoubleField(null=True)
        event_floor = pw.BigIntegerField(default=0)
        parked = pw.BooleanField(default=False)
        lease_owner = char(null=True)
        lease_until = pw.DoubleField(null=True)
        continued_from = char(null=True)  # schema 7: the run that continued as this one
        continued_as = char(null=True)  # schema 7: the run this one continued as
        parent_id = char(null=True)  # schema 9: the instance that started this one as its child
        parent_close = char(null=True)  # schema 9: "cancel" or "abandon" when the parent ends first
        chain_id = char(null=True)  # schema 9: the child's id as its parent knows it
        wait_competing = pw.BooleanField(null=True)  # schema 9: an event wait that competes with others
        queue = char(null=True)  # schema 9: the queue whose slot it holds (or waits for, when queued)
        started_at = pw.DoubleField(null=True)  # schema 9: when a queue's instance got its slot
        trace_context = pw.TextField(null=True)  # schema 12: the W3C traceparent its runs' spans are under

        class Meta:
            table_name = "romancy_instances"
            without_rowid = clustered

    class StepRow(Base):
        instance_id = char()
        seq = pw.IntegerField()
        kind = char()
        name = char()
        result = pw.TextField()

        class Meta:
            table_name = "romancy_steps"
            primary_key = pw.CompositeKey("instance_id", "seq")
            without_rowid = clustered

    class EventRow(Base):
        # Never handed out twice, even after the newest events are pruned (schema 10): SQLite's
        # AUTOINCREMENT; a PostgreSQL sequence never goes back.
        seq = _AutoIncrement() if clustered else pw.BigAutoField()
        source = char()
        event_id = char()
        type = char()
        subject = pw.TextField(null=True)
        time = char(null=True)
        data = pw.TextField(null=True)
        data_content_type = char(null=True)
        data_schema = pw.TextField(null=True)
        extensions = pw.TextField(null=True)
        target = char(null=True)
        received_at = pw.DoubleField()
        # Schema 9: JSON list of the pruned instances that consumed this event (their steps,
        # which said so, are gone); NULL while every consumer, if any, is still stored.
        consumed_by = pw.TextField(null=True)

        class Meta:
            table_name = "romancy_events"
            indexes = (
                (("source", "event_id"), True),
                (("type", "seq"), False),
            )

    class WaitTypeRow(Base):
        """The types after the first of waits for any of several types: looked up by type as
        `wait_event_type` is by its index. Rows of a wait that ended are deleted with it; a row
        counts only while its instance still waits at `wait_seq`."""

        instance_id = char()
        event_type = char()
        wait_seq = pw.IntegerField()

        class Meta:
            table_name = "romancy_wait_types"
            primary_key = pw.CompositeKey("instance_id", "event_type")
            indexes = ((("event_type",), False),)

    class OutboxRow(Base):
        """An event a workflow published with a relay target (schema 7): written with its step,
        claimed by one relay at a time (lease), retried until sent or failed."""

        event_seq = pw.BigIntegerField(primary_key=True)  # romancy_events.seq
        target = pw.TextField()
        status = char()  # records.OUTBOX_STATUSES
        attempts = pw.IntegerField(default=0)
        last_error = pw.TextField(null=True)
        next_attempt_at = pw.DoubleField(null=True)
        lease_owner = char(null=True)
        lease_until = pw.DoubleField(null=True)

        class Meta:
            table_name = "romancy_outbox"

    # Only pending rows: the relay's claims and next-due reads; sent ones never touch it again.
    OutboxRow.add_index(OutboxRow.index(OutboxRow.next_attempt_at, name="romancy_outbox_due",
                                        where=OutboxRow.status == PENDING))
    _index_instances(InstanceRow)
    StepRow.add_index(pw.SQL(f"CREATE INDEX IF NOT EXISTS romancy_steps_event_seq ON romancy_steps "
                             f"({event_seq_sql(db)}) WHERE kind = 'event'"))
    return SimpleNamespace(Meta=Meta, Instance=InstanceRow, Step=StepRow, Event=EventRow, WaitType=WaitTypeRow,
                           Outbox=OutboxRow, all=[Meta, InstanceRow, StepRow, EventRow, WaitTypeRow, OutboxRow])


def _index_instances(row: type[pw.Model]) -> None:
    """Partial indexes: each holds only the instances its queries look for (due, waiting for an
    event, running or compensating), so that most status changes touch no index page, or one. Their queries name
    what each index is limited to (queries.py), for SQLite and PostgreSQL to use them."""
    row.add_index(row.index(row.wake_at, name="romancy_instances_due", where=row.wake_at.is_null(False)))
    row.add_index(row.index(row.wait_event_type, row.status, row.wait_match_keys, row.wait_match,
                            name="romancy_instances_waiting", where=row.wait_event_type.is_null(False)))
    row.add_index(row.index(row.updated_at, name=RUNNABLE_INDEX, where=row.status.in_(list(RUNNABLE))))
    # By workflow (listing), and covering the counts per workflow and status (GET /metrics) so that
    # they read the index alone (schema 9; it replaced an index of `workflow` only).
    row.add_index(row.index(row.workflow, row.status, row.parked, name=COUNTS_INDEX))
    # Ended instances by status, newest first (listing, prune): the bulk of a table, entered once
    # when an instance ends. Limited to them, the planners keep the partial indexes above for
    # ticks and deliveries (a full status index took over their queries, sorting in a temp B-tree).
    row.add_index(row.index(row.status, row.created_at, row.instance_id, name="romancy_instances_status",
                            where=row.status.in_(ENDED)))
    # Pages of the web page, newest first: written once per instance, at its start.
    row.add_index(row.index(row.created_at, row.instance_id, name="romancy_instances_created"))
    # Children of a parent (status, cancel of a parent): only the instances that have one.
    row.add_index(row.index(row.parent_id, name="romancy_instances_parent", where=row.parent_id.is_null(False)))
    # A queue's instances by status and age (admission, promotion): only those of a queue.
    row.add_index(row.index(row.queue, row.status, row.created_at, name="romancy_instances_queue",
                            where=row.queue.is_null(False)))
