-- CreateTable
CREATE TABLE "registry" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "secret" BYTEA,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "registry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "generator_state" (
    "registry_id" UUID NOT NULL,
    "phase" TEXT NOT NULL DEFAULT 'idle',
    "last_repo" TEXT NOT NULL DEFAULT '',
    "done" BOOLEAN NOT NULL DEFAULT false,
    "wait_time_ms" INTEGER NOT NULL DEFAULT 0,
    "last_task_at" TIMESTAMPTZ(3),
    "round" INTEGER NOT NULL DEFAULT 0,
    "round_started_at" TIMESTAMPTZ(3),
    "round_ended_at" TIMESTAMPTZ(3),
    "next_round_at" TIMESTAMPTZ(3),
    "repos_total" INTEGER,
    "repos_done" INTEGER NOT NULL DEFAULT 0,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "leader_id" TEXT,
    "lease_until" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "generator_state_pkey" PRIMARY KEY ("registry_id")
);

-- CreateTable
CREATE TABLE "task" (
    "id" BIGSERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "registry_id" UUID,
    "repository" TEXT NOT NULL,
    "reference" TEXT,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 1,
    "trigger" TEXT NOT NULL,
    "dedupe_key" TEXT,
    "run_after" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "lease_owner" TEXT,
    "lease_until" TIMESTAMPTZ(3),
    "bytes_copied" BIGINT NOT NULL DEFAULT 0,
    "blobs_copied" INTEGER NOT NULL DEFAULT 0,
    "blobs_skipped" INTEGER NOT NULL DEFAULT 0,
    "bytes_total" BIGINT,
    "outcomes" JSONB NOT NULL DEFAULT '[]',
    "error_code" TEXT,
    "error_message" TEXT,

    CONSTRAINT "task_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "task_event" (
    "id" BIGSERIAL NOT NULL,
    "task_id" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "level" TEXT NOT NULL DEFAULT 'info',
    "message" TEXT NOT NULL,
    "data" JSONB,

    CONSTRAINT "task_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tag_sync_state" (
    "registry_id" UUID NOT NULL,
    "repository" TEXT NOT NULL,
    "tag" TEXT NOT NULL,
    "upstream_repo" TEXT NOT NULL,
    "digest" TEXT,
    "upstream_digest" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "last_checked_at" TIMESTAMPTZ(3),
    "last_synced_at" TIMESTAMPTZ(3),
    "error_code" TEXT,
    "error_message" TEXT,

    CONSTRAINT "tag_sync_state_pkey" PRIMARY KEY ("registry_id","repository","tag")
);

-- CreateIndex
CREATE UNIQUE INDEX "registry_name_key" ON "registry"("name");

-- CreateIndex
CREATE UNIQUE INDEX "task_dedupe_key_key" ON "task"("dedupe_key");

-- CreateIndex
CREATE INDEX "task_status_priority_run_after_idx" ON "task"("status", "priority" DESC, "run_after");

-- CreateIndex
CREATE INDEX "task_registry_id_queued_at_idx" ON "task"("registry_id", "queued_at" DESC);

-- CreateIndex
CREATE INDEX "task_queued_at_idx" ON "task"("queued_at" DESC);

-- CreateIndex
CREATE INDEX "task_event_task_id_id_idx" ON "task_event"("task_id", "id");

-- CreateIndex
CREATE INDEX "tag_sync_state_repository_tag_idx" ON "tag_sync_state"("repository", "tag");

-- AddForeignKey
ALTER TABLE "generator_state" ADD CONSTRAINT "generator_state_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task" ADD CONSTRAINT "task_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registry"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_event" ADD CONSTRAINT "task_event_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tag_sync_state" ADD CONSTRAINT "tag_sync_state_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

