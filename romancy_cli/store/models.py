"""peewee models, created per database so that no model is bound globally."""

from __future__ import annotations

from types import SimpleNamespace

import peewee as pw


def make_models(db: pw.Database) -> SimpleNamespace:
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
            indexes = (
                (("status", "wake_at"), False),
                (("wait_event_type", "status", "wait_match_keys", "wait_match"), False),
                (("workflow", "status"), False),
            )

    class StepRow(Base):
        instance_id = pw.CharField()
        seq = pw.IntegerField()
        kind = pw.CharField()
        name = pw.CharField()
        result = pw.TextField()

        class Meta:
            table_name = "romancy_steps"
            primary_key = pw.CompositeKey("instance_id", "seq")

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

    return SimpleNamespace(Meta=Meta, Instance=InstanceRow, Step=StepRow, Event=EventRow,
                           all=[Meta, InstanceRow, StepRow, EventRow])
