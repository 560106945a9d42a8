-- A fresh romancy database at schema version 1, as romancy-cli of that version created it (sqlite).
CREATE TABLE IF NOT EXISTS "romancy_events" ("seq" INTEGER NOT NULL PRIMARY KEY, "source" VARCHAR(255) NOT NULL, "event_id" VARCHAR(255) NOT NULL, "type" VARCHAR(255) NOT NULL, "subject" TEXT, "time" VARCHAR(255), "data" TEXT, "data_content_type" VARCHAR(255), "data_schema" TEXT, "extensions" TEXT, "target" VARCHAR(255), "received_at" REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS "romancy_events_source_event_id" ON "romancy_events" ("source", "event_id");
CREATE INDEX IF NOT EXISTS "romancy_events_type_seq" ON "romancy_events" ("type", "seq");
CREATE TABLE IF NOT EXISTS "romancy_instances" ("instance_id" VARCHAR(255) NOT NULL PRIMARY KEY, "workflow" VARCHAR(255) NOT NULL, "status" VARCHAR(255) NOT NULL, "args" TEXT NOT NULL, "kwargs" TEXT NOT NULL, "output" TEXT, "error" TEXT, "created_at" REAL NOT NULL, "updated_at" REAL NOT NULL, "wait_kind" VARCHAR(255), "wait_seq" INTEGER, "wait_event_type" VARCHAR(255), "wait_match" TEXT, "wait_match_keys" TEXT, "wait_attempt" INTEGER NOT NULL, "wake_at" REAL, "event_floor" INTEGER NOT NULL, "parked" INTEGER NOT NULL, "lease_owner" VARCHAR(255), "lease_until" REAL);
CREATE INDEX IF NOT EXISTS "romancy_instances_status_wake_at" ON "romancy_instances" ("status", "wake_at");
CREATE INDEX IF NOT EXISTS "romancy_instances_wait_event_type_status_wait_match_keys_2e67f6e" ON "romancy_instances" ("wait_event_type", "status", "wait_match_keys", "wait_match");
CREATE INDEX IF NOT EXISTS "romancy_instances_workflow_status" ON "romancy_instances" ("workflow", "status");
CREATE TABLE IF NOT EXISTS "romancy_meta" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "romancy_steps" ("instance_id" VARCHAR(255) NOT NULL, "seq" INTEGER NOT NULL, "kind" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL, "result" TEXT NOT NULL, PRIMARY KEY ("instance_id", "seq"));
