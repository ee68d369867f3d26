-- Indexes for the task table at history scale (issue 6; measured with bench/scheduler-scale.ts,
-- numbers in BENCHMARKS.md "lib/scheduler").
--
-- task_registry_id_status_id_idx: the task list (GET /api/v1/tasks, GraphQL `tasks`) shows the
-- newest tasks of one registry filtered by status, ordered by id. Without it Postgres combined the
-- (registry_id, queued_at) and status indexes into a bitmap, fetched every matching row of the
-- registry's history and sorted them, or walked the primary key backwards filtering out rows of
-- other registries and statuses: the cost grew with history (rare statuses, e.g. `cancelled`, were
-- the slowest). With the index it is a backward scan reading only the rows it returns. It also
-- makes the per-registry count of running tasks in the generator snapshot an index range.
--
-- task_registry_id_trigger_status_idx: the generator snapshot (GET /api/v1/generators, the
-- dashboard overview, polled often) counts the current round's tasks per registry by trigger and
-- status. Without it each count read the registry's whole history (tens of thousands of heap
-- pages per registry at 1M rows), making the snapshot cost linear in history.
--
-- Plain CREATE INDEX (not CONCURRENTLY): migrations run inside a transaction. On an existing
-- history of 1M rows each build takes about a second, during which writes to `task` wait.

-- CreateIndex
CREATE INDEX "task_registry_id_status_id_idx" ON "task"("registry_id", "status", "id" DESC);

-- CreateIndex
CREATE INDEX "task_registry_id_trigger_status_idx" ON "task"("registry_id", "trigger", "status");
