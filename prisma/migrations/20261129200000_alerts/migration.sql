-- Alerts (issue 10): webhook state per registry and condition, and the delivery outbox with its
-- attempt log (lib/alerts). Webhooks themselves live in the config file, referred to by name.

-- CreateTable
CREATE TABLE "alert_state" (
    "webhook" TEXT NOT NULL,
    "registry_id" UUID NOT NULL,
    "condition" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "since" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "alert_state_pkey" PRIMARY KEY ("webhook","registry_id","condition")
);

-- CreateTable
CREATE TABLE "alert_event" (
    "id" UUID NOT NULL,
    "webhook" TEXT NOT NULL,
    "registry_id" UUID,
    "registry_name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),

    CONSTRAINT "alert_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "alert_attempt" (
    "id" BIGSERIAL NOT NULL,
    "event_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status_code" INTEGER,
    "error" TEXT,
    "duration_ms" INTEGER NOT NULL,
    "next_attempt_at" TIMESTAMPTZ(3),

    CONSTRAINT "alert_attempt_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "alert_event_status_next_attempt_at_idx" ON "alert_event"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "alert_event_webhook_registry_id_created_at_idx" ON "alert_event"("webhook", "registry_id", "created_at");

-- CreateIndex
CREATE INDEX "alert_attempt_event_id_attempt_idx" ON "alert_attempt"("event_id", "attempt");

-- AddForeignKey
ALTER TABLE "alert_state" ADD CONSTRAINT "alert_state_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "alert_event" ADD CONSTRAINT "alert_event_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registry"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "alert_attempt" ADD CONSTRAINT "alert_attempt_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "alert_event"("id") ON DELETE CASCADE ON UPDATE CASCADE;
