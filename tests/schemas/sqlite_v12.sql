-- A fresh romancy database at schema version 12, as romancy-cli of that version created it (sqlite).
CREATE TABLE IF NOT EXISTS "romancy_events" ("seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "source" VARCHAR(255) NOT NULL, "event_id" VARCHAR(255) NOT NULL, "type" VARCHAR(255) NOT NULL, "subject" TEXT, "time" VARCHAR(255), "data" TEXT, "data_content_type" VARCHAR(255), "data_schema" TEXT, "extensions" TEXT, "target" VARCHAR(255), "received_at" REAL NOT NULL, "consumed_by" TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS "romancy_events_source_event_id" ON "romancy_events" ("source", "event_id");
CREATE INDEX IF NOT EXISTS "romancy_events_type_seq" ON "romancy_events" ("type", "seq");
CREATE TABLE IF NOT EXISTS "romancy_instances" ("instance_id" VARCHAR(255) NOT NULL PRIMARY KEY, "workflow" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "args" TEXT NOT NULL, "kwargs" TEXT NOT NULL, "output" TEXT, "error" TEXT, "created_at" REAL NOT NULL, "updated_at" REAL NOT NULL, "wait_kind" VARCHAR(255), "wait_seq" INTEGER, "wait_event_type" VARCHAR(255), "wait_match" TEXT, "wait_match_keys" TEXT, "wait_attempt" INTEGER NOT NULL, "wait_more_types" TEXT, "wake_at" REAL, "event_floor" INTEGER NOT NULL, "parked" INTEGER NOT NULL, "lease_owner" VARCHAR(255), "lease_until" REAL, "continued_from" VARCHAR(255), "continued_as" VARCHAR(255), "parent_id" VARCHAR(255), "parent_close" VARCHAR(255), "chain_id" VARCHAR(255), "wait_competing" INTEGER, "queue" VARCHAR(255), "started_at" REAL, "trace_context" TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "romancy_instances_due" ON "romancy_instances" ("wake_at") WHERE ("wake_at" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_waiting" ON "romancy_instances" ("wait_event_type", "status", "wait_match_keys", "wait_match") WHERE ("wait_event_type" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_runnable" ON "romancy_instances" ("updated_at") WHERE ("status" IN ('running', 'compensating'));
CREATE INDEX IF NOT EXISTS "romancy_instances_counts" ON "romancy_instances" ("workflow", "status", "parked");
CREATE INDEX IF NOT EXISTS "romancy_instances_status" ON "romancy_instances" ("status", "created_at", "instance_id") WHERE ("status" IN ('cancelled', 'completed', 'continued_as_new', 'failed'));
CREATE INDEX IF NOT EXISTS "romancy_instances_created" ON "romancy_instances" ("created_at", "instance_id");
CREATE INDEX IF NOT EXISTS "romancy_instances_parent" ON "romancy_instances" ("parent_id") WHERE ("parent_id" IS NOT NULL);
CREATE INDEX IF NOT EXISTS "romancy_instances_queue" ON "romancy_instances" ("queue", "status", "created_at") WHERE ("queue" IS NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_meta" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_outbox" ("event_seq" INTEGER NOT NULL PRIMARY KEY, "target" TEXT NOT NULL, "status" VARCHAR(255) NOT NULL, "attempts" INTEGER NOT NULL, "last_error" TEXT, "next_attempt_at" REAL, "lease_owner" VARCHAR(255), "lease_until" REAL);
CREATE INDEX IF NOT EXISTS "romancy_outbox_due" ON "romancy_outbox" ("next_attempt_at") WHERE ("status" = 'pending');
CREATE TABLE IF NOT EXISTS "romancy_steps" ("instance_id" VARCHAR(255) NOT NULL, "seq" INTEGER NOT NULL, "kind" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL, "result" TEXT NOT NULL, PRIMARY KEY ("instance_id", "seq")) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS romancy_steps_event_seq ON romancy_steps (json_extract(result, '$.seq')) WHERE kind = 'event';
CREATE TABLE IF NOT EXISTS "romancy_wait_types" ("instance_id" VARCHAR(255) NOT NULL, "event_type" VARCHAR(255) NOT NULL, "wait_seq" INTEGER NOT NULL, PRIMARY KEY ("instance_id", "event_type"));
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
