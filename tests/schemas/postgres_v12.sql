-- A fresh romancy database at schema version 12, as romancy-cli of that version created it (postgres).
CREATE TABLE IF NOT EXISTS "romancy_events" ("seq" BIGSERIAL NOT NULL PRIMARY KEY, "source" VARCHAR NOT NULL, "event_id" VARCHAR NOT NULL, "type" VARCHAR NOT NULL, "subject" TEXT, "time" VARCHAR, "data" TEXT, "data_content_type" VARCHAR, "data_schema" TEXT, "extensions" TEXT, "target" VARCHAR, "received_at" DOUBLE PRECISION NOT NULL, "consumed_by" TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS "romancy_events_source_event_id" ON "romancy_events" ("source", "event_id");
CREATE INDEX IF NOT EXISTS "romancy_events_type_seq" ON "romancy_events" ("type", "seq");
CREATE TABLE IF NOT EXISTS "romancy_instances" ("instance_id" VARCHAR NOT NULL PRIMARY KEY, "workflow" VARCHAR NOT NULL, "status" VARCHAR NOT NULL, "args" TEXT NOT NULL, "kwargs" TEXT NOT NULL, "output" TEXT, "error" TEXT, "created_at" DOUBLE PRECISION NOT NULL, "updated_at" DOUBLE PRECISION NOT NULL, "wait_kind" VARCHAR, "wait_seq" INTEGER, "wait_event_type" VARCHAR, "wait_match" TEXT, "wait_match_keys" TEXT, "wait_attempt" INTEGER NOT NULL, "wait_more_types" TEXT, "wake_at" DOUBLE PRECISION, "event_floor" BIGINT NOT NULL, "parked" BOOLEAN NOT NULL, "lease_owner" VARCHAR, "lease_until" DOUBLE PRECISION, "continued_from" VARCHAR, "continued_as" VARCHAR, "parent_id" VARCHAR, "parent_close" VARCHAR, "chain_id" VARCHAR, "wait_competing" BOOLEAN, "queue" VARCHAR, "started_at" DOUBLE PRECISION, "trace_context" TEXT);
CREATE INDEX IF NOT EXISTS "romancy_instances_due" ON "romancy_instances" ("wake_at") WHERE ("wake_at" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_waiting" ON "romancy_instances" ("wait_event_type", "status", "wait_match_keys", "wait_match") WHERE ("wait_event_type" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_runnable" ON "romancy_instances" ("updated_at") WHERE ("status" IN ('running', 'compensating'));
CREATE INDEX IF NOT EXISTS "romancy_instances_counts" ON "romancy_instances" ("workflow", "status", "parked");
CREATE INDEX IF NOT EXISTS "romancy_instances_status" ON "romancy_instances" ("status", "created_at", "instance_id") WHERE ("status" IN ('cancelled', 'completed', 'continued_as_new', 'failed'));
CREATE INDEX IF NOT EXISTS "romancy_instances_created" ON "romancy_instances" ("created_at", "instance_id");
CREATE INDEX IF NOT EXISTS "romancy_instances_parent" ON "romancy_instances" ("parent_id") WHERE ("parent_id" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_queue" ON "romancy_instances" ("queue", "status", "created_at") WHERE ("queue" IS NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_meta" ("key" VARCHAR NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_outbox" ("event_seq" BIGINT NOT NULL PRIMARY KEY, "target" TEXT NOT NULL, "status" VARCHAR NOT NULL, "attempts" INTEGER NOT NULL, "last_error" TEXT, "next_attempt_at" DOUBLE PRECISION, "lease_owner" VARCHAR, "lease_until" DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS "romancy_outbox_due" ON "romancy_outbox" ("next_attempt_at") WHERE ("status" = 'pending');
CREATE TABLE IF NOT EXISTS "romancy_steps" ("instance_id" VARCHAR NOT NULL, "seq" INTEGER NOT NULL, "kind" VARCHAR NOT NULL, "name" VARCHAR NOT NULL, "result" TEXT NOT NULL, PRIMARY KEY ("instance_id", "seq"));
CREATE INDEX IF NOT EXISTS romancy_steps_event_seq ON romancy_steps (((result::jsonb ->> 'seq')::bigint)) WHERE kind = 'event';
CREATE TABLE IF NOT EXISTS "romancy_wait_types" ("instance_id" VARCHAR NOT NULL, "event_type" VARCHAR NOT NULL, "wait_seq" INTEGER NOT NULL, PRIMARY KEY ("instance_id", "event_type"));
CREATE INDEX IF NOT EXISTS "romancy_wait_types_event_type" ON "romancy_wait_types" ("event_type");
CREATE TABLE IF NOT EXISTS romancy_schedules (
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
        version INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS romancy_schedules_due ON romancy_schedules (due_at) WHERE paused = 0;
CREATE TABLE IF NOT EXISTS romancy_schedule_runs (
        schedule_id VARCHAR(255) NOT NULL,
        slot DOUBLE PRECISION NOT NULL,
        outcome VARCHAR(16) NOT NULL,
        instance_id VARCHAR(255),
        recorded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (schedule_id, slot));
