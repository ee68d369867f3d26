-- Per-tag state details for lib/sync: image size, the platforms held locally, and when the
-- local digest last changed (last_synced_at says when a sync last succeeded, not when it changed).
ALTER TABLE "tag_sync_state" ADD COLUMN "size" BIGINT;
ALTER TABLE "tag_sync_state" ADD COLUMN "platforms" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "tag_sync_state" ADD COLUMN "last_changed_at" TIMESTAMPTZ(3);
