/**
 * The durable task queue: one function per statement. Claims use `FOR UPDATE SKIP LOCKED` so any
 * number of workers in any number of processes take distinct tasks without blocking each other;
 * a claimed task carries a lease (`lease_owner`, `lease_until`) its worker renews, and a task
 * whose lease lapsed is handed back by `reapExpired`.
 *
 * Why not pg-boss: the task table is also the team's sync history (bytes, outcomes, events,
 * triggers) that the dashboard pages through; with pg-boss every task would live twice, in its
 * job table and ours, kept in step by hand. The queue semantics we need (priority, dedupe of live
 * work, pause per registry, leases) are a handful of statements on the one table.
 */
import { AppError } from "../errors";
import type { Sql } from "./sql";
import { toTask, type TaskKind, type TaskRecord, type TaskResult, type TaskRow } from "./task-types";

export const EVENTS_CHANNEL = "ferry_events";

export interface EnqueueInput {
  kind: TaskKind;
  registryId: string | null;
  repository: string;
  reference?: string | null;
  priority: number;
  /** Who or what asked: "generator:<round>", "on-demand", "user:<name>", "retry:<id>". */
  trigger: string;
  maxAttempts?: number;
  runAfter?: Date;
}

export function dedupeKeyOf(input: Pick<EnqueueInput, "kind" | "registryId" | "repository" | "reference">): string {
  return [input.kind, input.registryId ?? "-", input.repository, input.reference ?? ""].join("|");
}

/**
 * Queues a task, or joins the identical live one (raising its priority when the new request is
 * more urgent). `created` tells which. One statement, so concurrent callers cannot both insert.
 */
export async function enqueue(sql: Sql, input: EnqueueInput): Promise<{ task: TaskRecord; created: boolean }> {
  const rows = await sql.query<TaskRow & { created: boolean }>(
    `INSERT INTO task (kind, registry_id, repository, reference, priority, trigger, max_attempts, dedupe_key, run_after)
     VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now()))
     ON CONFLICT (dedupe_key) DO UPDATE SET priority = GREATEST(task.priority, EXCLUDED.priority)
     RETURNING *, (xmax = 0) AS created`,
    input.kind,
    input.registryId,
    input.repository,
    input.reference ?? null,
    input.priority,
    input.trigger,
    input.maxAttempts ?? 1,
    dedupeKeyOf(input),
    input.runAfter ?? null,
  );
  const row = rows[0]!;
  const task = toTask(row);
  if (row.created) await notifyTask(sql, task);
  return { task, created: row.created };
}

/**
 * Claims the most urgent runnable task, skipping registries that are paused. Counts an attempt.
 */
export async function claim(sql: Sql, workerId: string, leaseMs: number): Promise<TaskRecord | null> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET status = 'running', attempts = attempts + 1, started_at = now(),
            lease_owner = $1, lease_until = now() + ($2::int * interval '1 millisecond'),
            error_code = NULL, error_message = NULL
      WHERE id = (
        SELECT t.id FROM task t
          LEFT JOIN generator_state g ON g.registry_id = t.registry_id
         WHERE t.status IN ('queued', 'retrying') AND t.run_after <= now() AND g.paused IS NOT TRUE
         ORDER BY t.priority DESC, t.run_after, t.id
         LIMIT 1
         FOR UPDATE OF t SKIP LOCKED)
      RETURNING *`,
    workerId,
    leaseMs,
  );
  const task = rows[0] ? toTask(rows[0]) : null;
  if (task) await notifyTask(sql, task);
  return task;
}

export interface Progress {
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
  bytesTotal?: number | undefined;
}

/**
 * Extends the lease and records progress. Returns the task's status: anything but "running"
 * (cancelled by an operator, or reclaimed after our lease lapsed) means the worker must stop.
 * New progress is published like any other change, so dashboards move their byte bars from the
 * event stream instead of polling (at most one event per renewal, only when the counters moved).
 */
export async function renew(sql: Sql, id: string, workerId: string, leaseMs: number, progress?: Progress): Promise<string> {
  const rows = await sql.query<{ status: string; lease_owner: string | null; renewed: boolean } & Pick<TaskRow, "kind" | "registry_id" | "repository" | "reference">>(
    `WITH upd AS (
       UPDATE task SET lease_until = now() + ($3::int * interval '1 millisecond'),
              bytes_copied = COALESCE($4::bigint, bytes_copied), blobs_copied = COALESCE($5::int, blobs_copied),
              blobs_skipped = COALESCE($6::int, blobs_skipped), bytes_total = COALESCE($7::bigint, bytes_total)
        WHERE id = $1::bigint AND lease_owner = $2 AND status = 'running'
        RETURNING status, lease_owner, kind, registry_id, repository, reference)
     SELECT status, lease_owner, kind, registry_id, repository, reference, true AS renewed FROM upd
     UNION ALL SELECT status, lease_owner, kind, registry_id, repository, reference, false FROM task WHERE id = $1::bigint AND NOT EXISTS (SELECT 1 FROM upd)`,
    id,
    workerId,
    leaseMs,
    progress?.bytesCopied ?? null,
    progress?.blobsCopied ?? null,
    progress?.blobsSkipped ?? null,
    progress?.bytesTotal ?? null,
  );
  const row = rows[0];
  if (!row) return "missing";
  if (progress && row.renewed) {
    await notifyTask(sql, { id, kind: row.kind as TaskKind, status: "running", registryId: row.registry_id, repository: row.repository, reference: row.reference }).catch(() => {
      // The renewal itself succeeded; a lost progress event is made good by the next one.
    });
  }
  return row.status === "running" && row.lease_owner !== workerId ? "lost" : row.status;
}

export async function complete(sql: Sql, id: string, workerId: string, result: TaskResult): Promise<TaskRecord | null> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET status = 'succeeded', finished_at = now(), dedupe_key = NULL, lease_owner = NULL, lease_until = NULL,
            outcomes = $3::jsonb, bytes_copied = $4::bigint, blobs_copied = $5, blobs_skipped = $6,
            bytes_total = COALESCE($7::bigint, bytes_total)
      WHERE id = $1::bigint AND lease_owner = $2 AND status = 'running'
      RETURNING *`,
    id,
    workerId,
    JSON.stringify(result.outcomes ?? []),
    result.bytesCopied ?? 0,
    result.blobsCopied ?? 0,
    result.blobsSkipped ?? 0,
    result.bytesTotal ?? null,
  );
  const task = rows[0] ? toTask(rows[0]) : null;
  if (task) await notifyTask(sql, task);
  return task;
}

export interface Failure {
  code: string;
  message: string;
  retryable: boolean;
  /** Delay before the next attempt when one is left. */
  retryDelayMs: number;
  outcomes?: TaskResult["outcomes"];
}

/** Records a failure: `retrying` after a delay when retryable with attempts left, else `failed`. */
export async function fail(sql: Sql, id: string, workerId: string, f: Failure): Promise<TaskRecord | null> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET
            status = CASE WHEN $3 AND attempts < max_attempts THEN 'retrying' ELSE 'failed' END,
            run_after = CASE WHEN $3 AND attempts < max_attempts THEN now() + ($4::int * interval '1 millisecond') ELSE run_after END,
            finished_at = CASE WHEN $3 AND attempts < max_attempts THEN NULL ELSE now() END,
            dedupe_key = CASE WHEN $3 AND attempts < max_attempts THEN dedupe_key ELSE NULL END,
            lease_owner = NULL, lease_until = NULL, error_code = $5, error_message = $6,
            outcomes = COALESCE($7::jsonb, outcomes)
      WHERE id = $1::bigint AND lease_owner = $2 AND status = 'running'
      RETURNING *`,
    id,
    workerId,
    f.retryable,
    Math.round(f.retryDelayMs),
    f.code,
    f.message.slice(0, 2000),
    f.outcomes ? JSON.stringify(f.outcomes) : null,
  );
  const task = rows[0] ? toTask(rows[0]) : null;
  if (task) await notifyTask(sql, task);
  return task;
}

/** Gives a claimed task back untouched (graceful shutdown): its attempt is not counted. */
export async function release(sql: Sql, id: string, workerId: string): Promise<void> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET status = 'queued', attempts = GREATEST(attempts - 1, 0), lease_owner = NULL, lease_until = NULL, started_at = NULL
      WHERE id = $1::bigint AND lease_owner = $2 AND status = 'running' RETURNING *`,
    id,
    workerId,
  );
  if (rows[0]) await notifyTask(sql, toTask(rows[0]));
}

/**
 * Hands back tasks whose worker stopped renewing (crashed, SIGKILLed, partitioned): `retrying`
 * when attempts are left, else `failed` with LEASE_EXPIRED. Any process may run it; the row lock
 * of the UPDATE makes it safe to run everywhere at once.
 */
export async function reapExpired(sql: Sql): Promise<TaskRecord[]> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET
            status = CASE WHEN attempts < max_attempts THEN 'retrying' ELSE 'failed' END,
            finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,
            dedupe_key = CASE WHEN attempts < max_attempts THEN dedupe_key ELSE NULL END,
            run_after = now(), lease_owner = NULL, lease_until = NULL,
            error_code = 'LEASE_EXPIRED', error_message = 'the worker running this task stopped renewing its lease'
      WHERE status = 'running' AND lease_until < now()
      RETURNING *`,
  );
  const tasks = rows.map(toTask);
  for (const t of tasks) await notifyTask(sql, t);
  return tasks;
}

/** Cancels a live task. A running one stops at its worker's next lease renewal. */
export async function cancel(sql: Sql, id: string): Promise<TaskRecord> {
  const rows = await sql.query<TaskRow>(
    `UPDATE task SET status = 'cancelled', finished_at = now(), dedupe_key = NULL,
            error_code = 'CANCELLED', error_message = 'cancelled by an operator'
      WHERE id = $1::bigint AND status IN ('queued', 'retrying', 'running') RETURNING *`,
    id,
  );
  if (!rows[0]) throw await notLiveError(sql, id, "cancel");
  const task = toTask(rows[0]);
  await notifyTask(sql, task);
  return task;
}

/** Queues a fresh copy of a failed or cancelled task; the original stays in the history. */
export async function retry(sql: Sql, id: string, trigger: string): Promise<TaskRecord> {
  const task = await getTask(sql, id);
  if (!task) throw new AppError("NOT_FOUND", `task ${id} does not exist`);
  if (task.status !== "failed" && task.status !== "cancelled") {
    throw new AppError("CONFLICT", `task ${id} is ${task.status}; only failed or cancelled tasks can be retried`);
  }
  const { task: copy } = await enqueue(sql, {
    kind: task.kind,
    registryId: task.registryId,
    repository: task.repository,
    reference: task.reference,
    priority: Math.max(task.priority, 50),
    trigger,
    maxAttempts: task.maxAttempts,
  });
  return copy;
}

export async function getTask(sql: Sql, id: string): Promise<TaskRecord | null> {
  if (!/^\d+$/.test(id)) return null;
  const rows = await sql.query<TaskRow>(`SELECT * FROM task WHERE id = $1::bigint`, id);
  return rows[0] ? toTask(rows[0]) : null;
}

async function notLiveError(sql: Sql, id: string, verb: string): Promise<AppError> {
  const task = await getTask(sql, id);
  if (!task) return new AppError("NOT_FOUND", `task ${id} does not exist`);
  return new AppError("CONFLICT", `cannot ${verb} task ${id}: it is already ${task.status}`);
}

/** Publishes a task's new state to every process (LISTEN ferry_events). */
export async function notifyTask(sql: Sql, t: Pick<TaskRecord, "id" | "kind" | "status" | "registryId" | "repository" | "reference">): Promise<void> {
  const payload = JSON.stringify({
    type: "task",
    id: t.id,
    kind: t.kind,
    status: t.status,
    registryId: t.registryId,
    repository: t.repository,
    reference: t.reference,
  });
  await sql.query(`SELECT pg_notify($1, $2)::text AS n`, EVENTS_CHANNEL, payload);
}

/** Appends to a task's event log. */
export async function addEvent(sql: Sql, taskId: string, level: string, message: string, data?: Record<string, unknown>): Promise<void> {
  await sql.query(
    `INSERT INTO task_event (task_id, level, message, data) VALUES ($1::bigint, $2, $3, $4::jsonb) RETURNING id`,
    taskId,
    level,
    message.slice(0, 2000),
    data ? JSON.stringify(data) : null,
  );
}

/**
 * Deletes finished tasks (and, by cascade, their events) older than the retention period, a
 * batch at a time so a large backlog never holds long locks. Returns how many rows went.
 */
export async function pruneHistory(sql: Sql, retentionDays: number, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM task WHERE id IN (
           SELECT id FROM task
            WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - ($1::int * interval '1 day')
            LIMIT $2)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      retentionDays,
      batch,
    );
    const n = rows[0]?.n ?? 0;
    total += n;
    if (n < batch) return total;
  }
}
