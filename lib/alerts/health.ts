/**
 * A registry's health as the alerts see it, read from the scheduler's tables:
 *
 *   failing  the generator is backing off after a catalog error (the upstream cannot be listed),
 *            or the registry's most recent finished task failed (after its retries) and no task
 *            has succeeded since. A task whose tags partly failed still succeeded (lib/mirror's
 *            task handler), so one bad tag does not make a registry fail.
 *            How many tasks failed in a row (since the last success) is counted too: webhooks
 *            only alert on a task failure once `failureAfter` of them did (lib/alerts/evaluate).
 *            Repositories still failing are counted too: those whose latest task of the
 *            generator's current or previous round failed. An alert holds while any is, so two
 *            failing repositories among healthy ones keep one alert across rounds instead of
 *            alerting and recovering every round (lib/alerts/evaluate). A repository that left
 *            the upstream catalog drops out of this count one round later.
 *   healthy  neither: the next successful task (or catalog answer) is the recovery.
 *   stale    (freshness) the last successful task finished longer ago than a webhook's
 *            threshold; a registry that never succeeded counts from its creation, as the
 *            `ferry_registry_seconds_since_last_success` metric does.
 */
import { GENERATOR_TRIGGER_PREFIX, type Sql } from "../scheduler";

export interface FailureReason {
  source: "catalog" | "task";
  code: string | null;
  message: string | null;
  taskId?: string;
  kind?: string;
  repository?: string;
}

export interface RegistryHealth {
  id: string;
  name: string;
  /** Null when healthy. */
  failure: FailureReason | null;
  /** When the failing evidence appeared (the failed task's end, the generator's last update). */
  failingSince: Date | null;
  lastSuccessAt: Date | null;
  /** Failed tasks since the last successful one (capped at FAIL_STREAK_CAP); 0 when none failed. */
  failedTasksInARow: number;
  /** Repositories whose latest task in the generator's current or previous round failed. */
  failingRepositories: number;
  /** Up to FAILING_SAMPLE of them, by name. */
  failingSample: string[];
  /** From here freshness is counted: the last success, or the registry's creation. */
  freshSince: Date;
  /** The database's clock, so every process judges staleness alike. */
  now: Date;
}

interface HealthRow {
  id: string;
  name: string;
  created_at: Date;
  now: Date;
  phase: string | null;
  last_error: string | null;
  gen_updated_at: Date | null;
  ok_at: Date | null;
  fail_id: string | null;
  fail_at: Date | null;
  fail_kind: string | null;
  fail_repository: string | null;
  fail_code: string | null;
  fail_message: string | null;
  fail_streak: number;
  failing_repos: number | null;
  failing_sample: string[] | null;
}

/** Counting stops here: the streak only has to be compared with a webhook's `failureAfter` (at most 100). */
export const FAIL_STREAK_CAP = 100;
/** Failing repositories named in a health reading (and in a failure event's payload). */
export const FAILING_SAMPLE = 5;

/**
 * Health of the given registries: one statement, each lookup an index range on task(registry_id,
 * status, id). Failing repositories are counted (a sort of up to two rounds of tasks) only where
 * they can matter: for `alerting` registries (is the alert still held?) and for those with
 * failure evidence now (a failure event names them); for the rest the count is 0.
 */
export async function readHealth(sql: Sql, registryIds: string[], alerting: Iterable<string> = []): Promise<RegistryHealth[]> {
  if (registryIds.length === 0) return [];
  const rows = await sql.query<HealthRow>(
    `SELECT r.id, r.name, r.created_at, now() AS now,
            g.phase, g.last_error, g.updated_at AS gen_updated_at,
            s.finished_at AS ok_at,
            f.id::text AS fail_id, f.finished_at AS fail_at, f.kind AS fail_kind, f.repository AS fail_repository,
            f.error_code AS fail_code, f.error_message AS fail_message,
            n.streak::int AS fail_streak, w.failing_repos, w.failing_sample
       FROM registry r
       LEFT JOIN generator_state g ON g.registry_id = r.id
       LEFT JOIN LATERAL (SELECT id, finished_at FROM task WHERE registry_id = r.id AND status = 'succeeded' ORDER BY id DESC LIMIT 1) s ON true
       LEFT JOIN LATERAL (SELECT id, finished_at, kind, repository, error_code, error_message
                            FROM task WHERE registry_id = r.id AND status = 'failed' ORDER BY id DESC LIMIT 1) f ON true
       LEFT JOIN LATERAL (SELECT count(*) AS streak FROM (SELECT 1 FROM task WHERE registry_id = r.id AND status = 'failed' AND id > coalesce(s.id, 0)
                                                           ORDER BY id DESC LIMIT ${FAIL_STREAK_CAP}) x) n ON true
       LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE l.status = 'failed')::int AS failing_repos,
                                 (array_agg(l.repository ORDER BY l.repository) FILTER (WHERE l.status = 'failed'))[1:${FAILING_SAMPLE}] AS failing_sample
                            FROM (SELECT DISTINCT ON (repository) repository, status FROM task
                                   WHERE (r.id = ANY($3::uuid[]) OR g.phase = 'backing-off' OR f.id > coalesce(s.id, 0))
                                     AND registry_id = r.id AND g.round IS NOT NULL AND status IN ('succeeded', 'failed')
                                     AND trigger IN ($2::text || g.round, $2::text || (g.round - 1))
                                   ORDER BY repository, id DESC) l) w ON true
      WHERE r.id = ANY($1::uuid[])`,
    registryIds,
    GENERATOR_TRIGGER_PREFIX,
    [...alerting],
  );
  return rows.map(toHealth);
}

function toHealth(r: HealthRow): RegistryHealth {
  const okAt = r.ok_at ? new Date(r.ok_at) : null;
  const failAt = r.fail_at ? new Date(r.fail_at) : null;
  let failure: FailureReason | null = null;
  let failingSince: Date | null = null;
  if (r.phase === "backing-off" && r.last_error) {
    failure = { source: "catalog", code: null, message: r.last_error };
    failingSince = r.gen_updated_at ? new Date(r.gen_updated_at) : new Date(r.now);
  } else if (r.fail_id && failAt && (!okAt || failAt > okAt)) {
    failure = { source: "task", code: r.fail_code, message: r.fail_message, taskId: r.fail_id, kind: r.fail_kind ?? "", repository: r.fail_repository ?? "" };
    failingSince = failAt;
  }
  return {
    id: r.id,
    name: r.name,
    failure,
    failingSince,
    lastSuccessAt: okAt,
    failedTasksInARow: Number(r.fail_streak ?? 0),
    failingRepositories: r.failing_repos ?? 0,
    failingSample: r.failing_sample ?? [],
    freshSince: okAt ?? new Date(r.created_at),
    now: new Date(r.now),
  };
}
