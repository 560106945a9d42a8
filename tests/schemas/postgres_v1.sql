-- A fresh romancy database at schema version 1, as romancy-cli of that version created it (postgres).
CREATE TABLE IF NOT EXISTS "romancy_events" ("seq" BIGSERIAL NOT NULL PRIMARY KEY, "source" VARCHAR NOT NULL, "event_id" VARCHAR NOT NULL, "type" VARCHAR NOT NULL, "subject" TEXT, "time" VARCHAR, "data" TEXT, "data_content_type" VARCHAR, "data_schema" TEXT, "extensions" TEXT, "target" VARCHAR, "received_at" DOUBLE PRECISION NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS "romancy_events_source_event_id" ON "romancy_events" ("source", "event_id");
CREATE INDEX IF NOT EXISTS "romancy_events_type_seq" ON "romancy_events" ("type", "seq");
CREATE TABLE IF NOT EXISTS "romancy_instances" ("instance_id" VARCHAR NOT NULL PRIMARY KEY, "workflow" VARCHAR NOT NULL, "status" VARCHAR NOT NULL, "args" TEXT NOT NULL, "kwargs" TEXT NOT NULL, "output" TEXT, "error" TEXT, "created_at" DOUBLE PRECISION NOT NULL, "updated_at" DOUBLE PRECISION NOT NULL, "wait_kind" VARCHAR, "wait_seq" INTEGER, "wait_event_type" VARCHAR, "wait_match" TEXT, "wait_match_keys" TEXT, "wait_attempt" INTEGER NOT NULL, "wake_at" DOUBLE PRECISION, "event_floor" BIGINT NOT NULL, "parked" BOOLEAN NOT NULL, "lease_owner" VARCHAR, "lease_until" DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS "romancy_instances_status_wake_at" ON "romancy_instances" ("status", "wake_at");
CREATE INDEX IF NOT EXISTS "romancy_instances_wait_event_type_status_wait_match_keys_2e67f6e" ON "romancy_instances" ("wait_event_type", "status", "wait_match_keys", "wait_match");
CREATE INDEX IF NOT EXISTS "romancy_instances_workflow_status" ON "romancy_instances" ("workflow", "status");
CREATE TABLE IF NOT EXISTS "romancy_meta" ("key" VARCHAR NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_steps" ("instance_id" VARCHAR NOT NULL, "seq" INTEGER NOT NULL, "kind" VARCHAR NOT NULL, "name" VARCHAR NOT NULL, "result" TEXT NOT NULL, PRIMARY KEY ("instance_id", "seq"));
