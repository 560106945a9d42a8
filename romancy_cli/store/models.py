"""peewee models, created per database so that no model is bound globally."""

from __future__ import annotations

from types import SimpleNamespace

import peewee as pw

from ..records import RUNNABLE

RUNNABLE_INDEX = "romancy_instances_runnable"  # schema 3; version 2 named it "..._running", for `running` only


def make_models(db: pw.Database) -> SimpleNamespace:
    # SQLite: steps and instances are kept in their primary key's B-tree, without a rowid table
    # beside it: one page fewer to write per step, one lookup fewer per read.
    clustered = isinstance(db, pw.SqliteDatabase)

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Meta(Base):
        key = pw.CharField(primary_key=True)
        value = pw.TextField()

        class Meta:
            table_name = "romancy_meta"

    class InstanceRow(Base):
        instance_id = pw.CharField(primary_key=True)
        workflow = pw.CharField()
        status = pw.CharField()
        args = pw.TextField()
        kwargs = pw.TextField()
        output = pw.TextField(null=True)
        error = pw.TextField(null=True)
        created_at = pw.DoubleField()
        updated_at = pw.DoubleField()
        wait_kind = pw.CharField(null=True)
        wait_seq = pw.IntegerField(null=True)
        wait_event_type = pw.CharField(null=True)
        wait_match = pw.TextField(null=True)  # canonical JSON of the match values
        wait_match_keys = pw.TextField(null=True)  # canonical JSON of the match paths
        wait_attempt = pw.IntegerField(default=0)
        wake_at = pw.DoubleField(null=True)
        event_floor = pw.BigIntegerField(default=0)
        parked = pw.BooleanField(default=False)
        lease_owner = pw.CharField(null=True)
        lease_until = pw.DoubleField(null=True)

        class Meta:
            table_name = "romancy_instances"
            without_rowid = clustered

    class StepRow(Base):
        instance_id = pw.CharField()
        seq = pw.IntegerField()
        kind = pw.CharField()
        name = pw.CharField()
        result = pw.TextField()

        class Meta:
            table_name = "romancy_steps"
            primary_key = pw.CompositeKey("instance_id", "seq")
            without_rowid = clustered

    class EventRow(Base):
        seq = pw.BigAutoField()
        source = pw.CharField()
        event_id = pw.CharField()
        type = pw.CharField()
        subject = pw.TextField(null=True)
        time = pw.CharField(null=True)
        data = pw.TextField(null=True)
        data_content_type = pw.CharField(null=True)
        data_schema = pw.TextField(null=True)
        extensions = pw.TextField(null=True)
        target = pw.CharField(null=True)
        received_at = pw.DoubleField()

        class Meta:
            table_name = "romancy_events"
            indexes = (
                (("source", "event_id"), True),
                (("type", "seq"), False),
            )

    _index_instances(InstanceRow)
    return SimpleNamespace(Meta=Meta, Instance=InstanceRow, Step=StepRow, Event=EventRow,
                           all=[Meta, InstanceRow, StepRow, EventRow])


def _index_instances(row: type[pw.Model]) -> None:
    """Partial indexes: each holds only the instances its queries look for (due, waiting for an
    event, running or compensating), so that most status changes touch no index page, or one. Their queries name
    what each index is limited to (queries.py), for SQLite and PostgreSQL to use them."""
    row.add_index(row.index(row.wake_at, name="romancy_instances_due", where=row.wake_at.is_null(False)))
    row.add_index(row.index(row.wait_event_type, row.status, row.wait_match_keys, row.wait_match,
                            name="romancy_instances_waiting", where=row.wait_event_type.is_null(False)))
    row.add_index(row.index(row.updated_at, name=RUNNABLE_INDEX, where=row.status.in_(list(RUNNABLE))))
    row.add_index(row.index(row.workflow, name="romancy_instances_workflow"))
