import type { TaskGeneratorState } from "../sync/task-generator";
import type { Sql } from "./sql";

/**
 * What a generator is doing, as the dashboard shows it.
 *   idle        no round has started (or the registry has no periodic sync)
 *   listing     asking upstream for the next repository (catalog)
 *   syncing     repositories of this round are queued or running
 *   backing-off the catalog failed; next try at lastTaskAt + waitTime
 *   waiting     the round finished; the next starts at nextRoundAt
 *   paused      an operator paused the registry
 */
export type GeneratorPhase = "idle" | "listing" | "syncing" | "backing-off" | "waiting" | "paused";

export interface GeneratorRow {
  registry_id: string;
  phase: string;
  last_repo: string;
  done: boolean;
  wait_time_ms: number;
  last_task_at: Date | null;
  round: number;
  round_started_at: Date | null;
  round_ended_at: Date | null;
  next_round_at: Date | null;
  repos_total: number | null;
  repos_done: number;
  paused: boolean;
  leader_id: string | null;
  last_error: string | null;
}

export async function loadGeneratorRow(sql: Sql, registryId: string): Promise<GeneratorRow> {
  await sql.query(`INSERT INTO generator_state (registry_id) VALUES ($1::uuid) ON CONFLICT DO NOTHING RETURNING registry_id`, registryId);
  const rows = await sql.query<GeneratorRow>(`SELECT * FROM generator_state WHERE registry_id = $1::uuid`, registryId);
  return rows[0]!;
}

export function toGeneratorState(row: GeneratorRow): TaskGeneratorState {
  return {
    lastRepo: row.last_repo,
    done: row.done,
    waitTimeMs: row.wait_time_ms,
    lastTaskAt: row.last_task_at ? new Date(row.last_task_at).getTime() : null,
    round: row.round,
    roundStartedAt: row.round_started_at ? new Date(row.round_started_at).getTime() : null,
  };
}

export interface GeneratorPatch {
  state?: TaskGeneratorState;
  phase?: GeneratorPhase;
  lastError?: string | null;
  roundEndedAt?: Date | null;
  nextRoundAt?: Date | null;
  leaderId?: string | null;
  /**
   * Write only while the round's end is not recorded yet: an operator's trigger may have recorded
   * it since the row was read, with the next round due now, which the leader must not push back.
   */
  whileRoundOpen?: boolean;
  /** Write only while the registry is still paused: an operator's resume since the read wins. */
  whilePaused?: boolean;
}

/**
 * Writes the generator's state. Guarded by `round` so a stale leader (one whose lock was lost
 * while it was mid-tick) cannot overwrite a round an operator reset in the meantime. Returns
 * whether it wrote.
 */
export async function saveGenerator(sql: Sql, registryId: string, expectRound: number, p: GeneratorPatch): Promise<boolean> {
  const s = p.state;
  const rows = await sql.query<{ phase: string; changed: boolean }>(
    `WITH old AS (SELECT phase FROM generator_state WHERE registry_id = $1::uuid)
     UPDATE generator_state SET
        last_repo = COALESCE($3, last_repo),
        done = COALESCE($4, done),
        wait_time_ms = COALESCE($5, wait_time_ms),
        last_task_at = CASE WHEN $6::boolean THEN $7::timestamptz ELSE last_task_at END,
        round = COALESCE($8, round),
        round_started_at = CASE WHEN $6::boolean THEN $9::timestamptz ELSE round_started_at END,
        phase = COALESCE($10, phase),
        last_error = CASE WHEN $11::boolean THEN $12 ELSE last_error END,
        round_ended_at = CASE WHEN $13::boolean THEN $14::timestamptz ELSE round_ended_at END,
        next_round_at = CASE WHEN $15::boolean THEN $16::timestamptz ELSE next_round_at END,
        leader_id = COALESCE($17, leader_id),
        updated_at = now()
      WHERE registry_id = $1::uuid AND round = $2 AND (NOT $18::boolean OR round_ended_at IS NULL) AND (NOT $19::boolean OR paused)
      RETURNING phase, (phase IS DISTINCT FROM (SELECT phase FROM old)) AS changed`,
    registryId,
    expectRound,
    s?.lastRepo ?? null,
    s?.done ?? null,
    s?.waitTimeMs ?? null,
    s !== undefined,
    s?.lastTaskAt ? new Date(s.lastTaskAt) : null,
    s?.round ?? null,
    s?.roundStartedAt ? new Date(s.roundStartedAt) : null,
    p.phase ?? null,
    p.lastError !== undefined,
    p.lastError ?? null,
    p.roundEndedAt !== undefined,
    p.roundEndedAt ?? null,
    p.nextRoundAt !== undefined,
    p.nextRoundAt ?? null,
    p.leaderId ?? null,
    p.whileRoundOpen === true,
    p.whilePaused === true,
  );
  const row = rows[0];
  if (row?.changed) {
    await sql.query(
      `SELECT pg_notify('ferry_events', $1)::text AS n`,
      JSON.stringify({ type: "generator", registryId, phase: row.phase }),
    );
  }
  return row !== undefined;
}
