/**
 * Turns registry health into alert events, one per transition.
 *
 * Per webhook, registry and condition (`failure`, `freshness`) a row in `alert_state` says `ok` or
 * `alerting` and since when. Each evaluation compares it with the health read now; a change is
 * written, and when the webhook subscribes to it an event is queued in the same transaction:
 *
 *   failure:    ok → alerting  sends `failure`    alerting → ok  sends `recovery`
 *   freshness:  ok → alerting  sends `freshness`  alerting → ok  sends `recovery`
 *
 * `failure` has hysteresis both ways. Entering it: a task failure counts only once the webhook's
 * `failureAfter` tasks failed in a row (catalog failures count at once), so a lone failing
 * repository among succeeding ones does not alert. Leaving it: the latest task must have
 * succeeded and no repository may still be failing in the generator's current or previous round
 * (lib/alerts/health), so two failing repositories that run back to back, among healthy ones,
 * make one alert that holds across rounds instead of an alert and a recovery every round.
 *
 * A first sight counts as coming from `ok`: a webhook added while a registry is down hears about
 * it once. Nothing is sent while the state holds, so a long outage is one event, not one per check.
 *
 * Every process evaluates (on a timer and on scheduler events), but one at a time: the
 * transaction first takes a transaction-scoped advisory lock and gives up when another process
 * holds it, so two processes with slightly different views cannot both flip the same state.
 */
import { randomUUID } from "node:crypto";
import type { AlertEventType } from "../config";
import type { Db } from "../db";
import type { Sql } from "../scheduler";
import { readHealth, type RegistryHealth } from "./health";
import type { Webhook } from "./webhooks";

export type Condition = "failure" | "freshness";
export type ConditionState = "ok" | "alerting";

export interface WatchedRegistry {
  id: string;
  name: string;
  /** Syncs on a poll interval: only such registries can be stale. */
  periodic: boolean;
}

export interface Transition {
  webhook: Webhook;
  health: RegistryHealth;
  condition: Condition;
  to: ConditionState;
  since: Date;
  /** What the webhook is sent, or null when it does not subscribe to this change. */
  event: AlertEventType | null;
  payload: AlertPayload | null;
}

/** The JSON body a receiver gets. */
export interface AlertPayload {
  id: string;
  type: AlertEventType;
  webhook: string;
  registry: string;
  /** What went wrong, or (for `recovery`) what recovered. */
  condition: Condition;
  /** When the condition began (for `recovery`: when the failure or staleness began). */
  since: string;
  occurredAt: string;
  reason?: RegistryHealth["failure"];
  /** With `failure`: repositories failing in the generator's current or previous round (up to 5 named). */
  failingRepositories?: { count: number; sample: string[] };
  freshness?: { lastSuccessAt: string | null; secondsSinceLastSuccess: number; thresholdSeconds: number };
}

const stateKey = (webhook: string, registryId: string, condition: Condition) => `${webhook}|${registryId}|${condition}`;

/** The pure part: what changes, given health and the stored states (`key` → state, since). */
export function decide(webhooks: Webhook[], registries: Array<WatchedRegistry & { health: RegistryHealth }>, states: Map<string, { state: ConditionState; since: Date }>): Transition[] {
  const out: Transition[] = [];
  for (const w of webhooks) {
    for (const r of registries) {
      if (!w.covers(r.name)) continue;
      const h = r.health;
      const conditions: Array<[Condition, boolean, Date]> = [];
      if (w.watchesFailure) {
        const alerting = states.get(stateKey(w.name, r.id, "failure"))?.state === "alerting";
        conditions.push(["failure", isFailing(w, h, alerting), h.failingSince ?? h.now]);
      }
      if (w.watchesFreshness && r.periodic) {
        const stale = h.now.getTime() - h.freshSince.getTime() > w.freshnessThresholdMs!;
        conditions.push(["freshness", stale, stale ? new Date(h.freshSince.getTime() + w.freshnessThresholdMs!) : h.now]);
      }
      for (const [condition, bad, since] of conditions) {
        const current = states.get(stateKey(w.name, r.id, condition));
        const to: ConditionState = bad ? "alerting" : "ok";
        if ((current?.state ?? "ok") === to) {
          if (!current) out.push({ webhook: w, health: h, condition, to, since: h.now, event: null, payload: null });
          continue;
        }
        const type: AlertEventType = to === "ok" ? "recovery" : condition;
        const event = w.events.has(type) ? type : null;
        const began = to === "ok" ? current!.since : since;
        out.push({ webhook: w, health: h, condition, to, since: to === "ok" ? h.now : since, event, payload: event ? payloadFor(w, h, condition, event, began) : null });
      }
    }
  }
  return out;
}

/**
 * Whether the failure condition holds: entering it needs `failureAfter` failed tasks in a row (or
 * a catalog failure); staying in it, a failed latest task or any repository still failing.
 */
export function isFailing(w: Pick<Webhook, "failureAfter">, h: RegistryHealth, alerting: boolean): boolean {
  if (alerting) return h.failure !== null || h.failingRepositories > 0;
  if (!h.failure) return false;
  return h.failure.source === "catalog" || h.failedTasksInARow >= w.failureAfter;
}

function payloadFor(w: Webhook, h: RegistryHealth, condition: Condition, type: AlertEventType, began: Date): AlertPayload {
  const p: AlertPayload = { id: randomUUID(), type, webhook: w.name, registry: h.name, condition, since: began.toISOString(), occurredAt: h.now.toISOString() };
  if (type === "failure" && h.failure) p.reason = h.failure;
  if (type === "failure" && h.failingRepositories > 0) p.failingRepositories = { count: h.failingRepositories, sample: h.failingSample };
  if (condition === "freshness") {
    p.freshness = {
      lastSuccessAt: h.lastSuccessAt?.toISOString() ?? null,
      secondsSinceLastSuccess: Math.round((h.now.getTime() - h.freshSince.getTime()) / 1000),
      thresholdSeconds: Math.round(w.freshnessThresholdMs! / 1000),
    };
  }
  return p;
}

/**
 * One evaluation. Returns the events queued, or null when another process is evaluating right now.
 */
export async function evaluate(db: Db, webhooks: Webhook[], registries: WatchedRegistry[]): Promise<AlertPayload[] | null> {
  if (webhooks.length === 0 || registries.length === 0) return [];
  return db.$transaction(
    async (tx) => {
      const sql: Sql = { query: <T>(text: string, ...params: unknown[]) => tx.$queryRawUnsafe<T[]>(text, ...params) };
      const [lock] = await sql.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtextextended('ferry-alerts', 0)) AS ok`);
      if (!lock?.ok) return null;
      const rows = await sql.query<{ webhook: string; registry_id: string; condition: Condition; state: ConditionState; since: Date }>(
        `SELECT webhook, registry_id, condition, state, since FROM alert_state WHERE webhook = ANY($1::text[])`,
        webhooks.map((w) => w.name),
      );
      const alerting = new Set(rows.filter((s) => s.condition === "failure" && s.state === "alerting").map((s) => s.registry_id));
      const health = new Map((await readHealth(sql, registries.map((r) => r.id), alerting)).map((h) => [h.id, h]));
      const states = new Map(rows.map((s) => [stateKey(s.webhook, s.registry_id, s.condition), { state: s.state, since: new Date(s.since) }]));
      const watched = registries.flatMap((r) => (health.has(r.id) ? [{ ...r, health: health.get(r.id)! }] : []));
      const events: AlertPayload[] = [];
      for (const t of decide(webhooks, watched, states)) {
        await sql.query(
          `INSERT INTO alert_state (webhook, registry_id, condition, state, since) VALUES ($1, $2::uuid, $3, $4, $5)
           ON CONFLICT (webhook, registry_id, condition) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, updated_at = now()`,
          t.webhook.name,
          t.health.id,
          t.condition,
          t.to,
          t.since,
        );
        if (!t.payload) continue;
        await sql.query(
          `INSERT INTO alert_event (id, webhook, registry_id, registry_name, type, payload, max_attempts) VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6::jsonb, $7)`,
          t.payload.id,
          t.webhook.name,
          t.health.id,
          t.health.name,
          t.payload.type,
          JSON.stringify(t.payload),
          t.webhook.maxAttempts,
        );
        events.push(t.payload);
      }
      return events;
    },
    { timeout: 30_000, maxWait: 10_000 },
  );
}
