/**
 * The delivery outbox: `alert_event` rows waiting to be sent, claimed with `FOR UPDATE SKIP LOCKED`
 * and a lease (the task queue's pattern, lib/scheduler/queue.ts), so any number of processes send
 * each event once; a sender that died mid-request is replaced when its lease lapses (the receiver
 * may then see the event twice, with the same `X-Ferry-Delivery`, and can drop the repeat).
 *
 * Events of one webhook and registry go out in order: an event is not claimed while an older one
 * of the same pair is still pending, so a recovery never overtakes the failure it follows.
 */
import type { Sql } from "../scheduler";
import type { AlertPayload } from "./evaluate";

export interface ClaimedEvent {
  id: string;
  webhook: string;
  registryName: string;
  type: string;
  payload: AlertPayload;
  /** This attempt's number (1-based). */
  attempt: number;
  maxAttempts: number;
}

export type DeliveryOutcome = "delivered" | "retrying" | "failed";

export async function claimDue(sql: Sql, webhooks: string[], leaseMs: number, limit: number): Promise<ClaimedEvent[]> {
  if (webhooks.length === 0) return [];
  const rows = await sql.query<{ id: string; webhook: string; registry_name: string; type: string; payload: AlertPayload; attempts: number; max_attempts: number }>(
    `UPDATE alert_event e SET attempts = e.attempts + 1, lease_until = now() + ($2::int * interval '1 millisecond')
      WHERE e.id IN (
        SELECT c.id FROM alert_event c
         WHERE c.status = 'pending' AND c.next_attempt_at <= now() AND (c.lease_until IS NULL OR c.lease_until < now())
           AND c.webhook = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM alert_event o
                            WHERE o.webhook = c.webhook AND o.registry_id IS NOT DISTINCT FROM c.registry_id AND o.status = 'pending'
                              AND (o.created_at, o.id) < (c.created_at, c.id))
         ORDER BY c.next_attempt_at
         LIMIT $3
         FOR UPDATE OF c SKIP LOCKED)
      RETURNING e.id, e.webhook, e.registry_name, e.type, e.payload, e.attempts, e.max_attempts`,
    webhooks,
    leaseMs,
    limit,
  );
  return rows.map((r) => ({ id: r.id, webhook: r.webhook, registryName: r.registry_name, type: r.type, payload: r.payload, attempt: r.attempts, maxAttempts: r.max_attempts }));
}

export interface AttemptRecord {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: DeliveryOutcome;
  /** When `retrying`: how long until the next attempt (counted on the database's clock, shared by every process). */
  retryInMs: number | null;
}

/**
 * Logs the attempt and moves the event on. Guarded by the attempt number: a sender whose lease
 * lapsed (and whose event was claimed again) records its attempt but changes nothing else.
 */
export async function recordAttempt(sql: Sql, event: ClaimedEvent, a: AttemptRecord): Promise<void> {
  await sql.query(
    `WITH logged AS (
       INSERT INTO alert_attempt (event_id, attempt, status_code, error, duration_ms, next_attempt_at)
       VALUES ($1::uuid, $2, $3, $4, $5, now() + ($7::int * interval '1 millisecond')) RETURNING event_id, next_attempt_at)
     UPDATE alert_event SET
            status = CASE $6 WHEN 'retrying' THEN 'pending' ELSE $6 END,
            next_attempt_at = COALESCE((SELECT next_attempt_at FROM logged), next_attempt_at),
            delivered_at = CASE WHEN $6 = 'delivered' THEN now() ELSE delivered_at END,
            lease_until = NULL
      WHERE id = (SELECT event_id FROM logged) AND attempts = $2 AND status = 'pending'`,
    event.id,
    event.attempt,
    a.statusCode,
    a.error?.slice(0, 1000) ?? null,
    Math.round(a.durationMs),
    a.outcome,
    a.retryInMs === null ? null : Math.round(a.retryInMs),
  );
}

/** Hands an event back unsent (shutting down mid-request): the attempt does not count. */
export async function releaseEvent(sql: Sql, event: ClaimedEvent): Promise<void> {
  await sql.query(`UPDATE alert_event SET attempts = attempts - 1, lease_until = NULL WHERE id = $1::uuid AND attempts = $2 AND status = 'pending'`, event.id, event.attempt);
}

/**
 * Webhooks a reload removed from the config: their pending events are dropped (there is nowhere to
 * send them) and their state forgotten, so if one comes back it starts from what is true then.
 * Only names this process had and lost: a process started with a config lacking webhooks (a worker
 * without the file, say) must not wipe what the others still send.
 */
export async function forgetWebhooks(sql: Sql, removed: string[]): Promise<number> {
  if (removed.length === 0) return 0;
  const dropped = await sql.query<{ id: string }>(
    `UPDATE alert_event SET status = 'dropped', lease_until = NULL WHERE status = 'pending' AND webhook = ANY($1::text[]) RETURNING id`,
    removed,
  );
  await sql.query(`DELETE FROM alert_state WHERE webhook = ANY($1::text[])`, removed);
  return dropped.length;
}
