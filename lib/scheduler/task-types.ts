import type { TagOutcome } from "../sync/service-types";

/**
 * A task's life. The `task` table is both the queue and the shared history.
 *
 *   queued ──claim──▶ running ──────────────▶ succeeded
 *     ▲                 │  ├───────────────────▶ failed     (permanent error, or attempts used up)
 *     │                 │  └───────────────────▶ cancelled  (operator; the worker sees it at its
 *     │                 ▼                                    next lease renewal and cleans up)
 *     └──── retrying ◀── retryable error, or the lease lapsed (worker died), attempts left;
 *                        runs again after `run_after` (exponential backoff with jitter)
 *   queued | retrying ──cancel──▶ cancelled
 *
 * `attempts` counts claims. `dedupe_key` is set exactly while a task is queued, retrying or
 * running, so the unique index on it deduplicates live work only: a second identical request
 * joins the live task (and may raise its priority) instead of queuing a copy.
 */
export type TaskStatus = "queued" | "running" | "retrying" | "succeeded" | "failed" | "cancelled";
export const LIVE_STATUSES: readonly TaskStatus[] = ["queued", "running", "retrying"];
export const FINAL_STATUSES: readonly TaskStatus[] = ["succeeded", "failed", "cancelled"];

export type TaskKind = "syncRepo" | "syncImage" | "syncReferrers";

/** On-demand pulls wait on a client, so they go first; operators next; periodic rounds last. */
export const PRIORITY = { periodic: 0, operator: 50, onDemand: 100 } as const;

export interface TaskRecord {
  id: string;
  kind: TaskKind;
  registryId: string | null;
  repository: string;
  reference: string | null;
  priority: number;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  trigger: string;
  runAfter: Date;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
  bytesTotal: number | null;
  outcomes: TagOutcome[];
  errorCode: string | null;
  errorMessage: string | null;
}

/** A task row as Postgres returns it (snake_case, bigint as bigint). Converted by `toTask`. */
export interface TaskRow {
  id: bigint | string;
  kind: string;
  registry_id: string | null;
  repository: string;
  reference: string | null;
  priority: number;
  status: string;
  attempts: number;
  max_attempts: number;
  trigger: string;
  run_after: Date;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  bytes_copied: bigint | string | number;
  blobs_copied: number;
  blobs_skipped: number;
  bytes_total: bigint | string | number | null;
  outcomes: unknown;
  error_code: string | null;
  error_message: string | null;
}

export function toTask(r: TaskRow): TaskRecord {
  return {
    id: String(r.id),
    kind: r.kind as TaskKind,
    registryId: r.registry_id,
    repository: r.repository,
    reference: r.reference,
    priority: r.priority,
    status: r.status as TaskStatus,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    trigger: r.trigger,
    runAfter: new Date(r.run_after),
    queuedAt: new Date(r.queued_at),
    startedAt: r.started_at ? new Date(r.started_at) : null,
    finishedAt: r.finished_at ? new Date(r.finished_at) : null,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until ? new Date(r.lease_until) : null,
    bytesCopied: Number(r.bytes_copied),
    blobsCopied: r.blobs_copied,
    blobsSkipped: r.blobs_skipped,
    bytesTotal: r.bytes_total === null ? null : Number(r.bytes_total),
    outcomes: (Array.isArray(r.outcomes) ? r.outcomes : []) as TagOutcome[],
    errorCode: r.error_code,
    errorMessage: r.error_message,
  };
}

/** What a finished task reports. */
export interface TaskResult {
  outcomes?: TagOutcome[];
  bytesCopied?: number;
  blobsCopied?: number;
  blobsSkipped?: number;
  bytesTotal?: number;
}
