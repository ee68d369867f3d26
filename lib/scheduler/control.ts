import { AppError } from "../errors";
import { GenerationCache } from "./generation-cache";
import { loadGeneratorRow, type GeneratorPhase, type GeneratorRow } from "./generator-state";
import { generatorTrigger, liveRoundTasks } from "./generators";
import type { Sql } from "./sql";
import { processWideWeakMap } from "../process-wide";

/** A generator as the dashboard and APIs show it (the scheduler's snapshot). */
export interface GeneratorStatus {
  registryId: string;
  registryName: string;
  phase: GeneratorPhase;
  paused: boolean;
  round: number;
  lastRepo: string;
  reposDone: number;
  reposQueued: number;
  runningTasks: number;
  roundStartedAt: Date | null;
  roundEndedAt: Date | null;
  /** When backing off: when the catalog will be asked again. */
  backoffUntil: Date | null;
  waitTimeMs: number;
  nextRoundAt: Date | null;
  lastError: string | null;
  leaderId: string | null;
  updatedAt: Date;
}

/**
 * Every registry's generator (or one registry's), as the overview, the APIs and `ferry status` show
 * it. Served from memory when `sql` has a snapshot cache attached (the API's handle, see
 * SnapshotCache); read from the database otherwise.
 */
export async function generatorSnapshot(sql: Sql, registryId?: string): Promise<GeneratorStatus[]> {
  const cache = snapshotCacheOf(sql);
  if (!cache) return readSnapshot(sql, registryId);
  const all = await cache.get(() => readSnapshot(sql));
  // Copies: callers get objects of their own, the cached ones stay as read.
  return all.filter((g) => registryId === undefined || g.registryId === registryId).map((g) => ({ ...g }));
}

/** One query over generator_state with the current round's task counts per registry. */
async function readSnapshot(sql: Sql, registryId?: string): Promise<GeneratorStatus[]> {
  const rows = await sql.query<GeneratorRow & { name: string; updated_at: Date; done_n: number; live_n: number; running_n: number }>(
    `SELECT g.*, r.name,
            (SELECT count(*)::int FROM task t WHERE t.registry_id = g.registry_id AND t.trigger = 'generator:round-' || g.round
                AND t.status IN ('succeeded', 'failed', 'cancelled')) AS done_n,
            (SELECT count(*)::int FROM task t WHERE t.registry_id = g.registry_id AND t.trigger = 'generator:round-' || g.round
                AND t.status IN ('queued', 'retrying')) AS live_n,
            (SELECT count(*)::int FROM task t WHERE t.registry_id = g.registry_id AND t.status = 'running') AS running_n
       FROM generator_state g JOIN registry r ON r.id = g.registry_id
      WHERE ($1::uuid IS NULL OR g.registry_id = $1::uuid)
      ORDER BY r.name`,
    registryId ?? null,
  );
  return rows.map((r) => ({
    registryId: r.registry_id,
    registryName: r.name,
    phase: (r.paused ? "paused" : r.phase) as GeneratorPhase,
    paused: r.paused,
    round: r.round,
    lastRepo: r.last_repo,
    reposDone: r.done_n,
    reposQueued: r.live_n,
    runningTasks: r.running_n,
    roundStartedAt: r.round_started_at,
    roundEndedAt: r.round_ended_at,
    backoffUntil: r.phase === "backing-off" && r.last_task_at ? new Date(new Date(r.last_task_at).getTime() + r.wait_time_ms) : null,
    waitTimeMs: r.wait_time_ms,
    nextRoundAt: r.next_round_at,
    lastError: r.last_error,
    leaderId: r.leader_id,
    updatedAt: r.updated_at,
  }));
}

/** Where invalidations come from: the process's LISTEN connection (EventListener). */
export interface SnapshotFeed {
  readonly connected: boolean;
}

/**
 * The generator snapshot in memory, so a dashboard or script polling it N times a second costs
 * one query per change instead of N. Every generator phase change and every task state change is
 * NOTIFYed by the process that made it; the owner calls `invalidate()` on each such event, and
 * after its own mutations. What changes without an event (a tick's `updatedAt`, the cursor inside
 * a phase) is at most `ttlMs` old.
 *
 * A read after an invalidation never gets an answer read before it: each load remembers the
 * generation it started in and is served only while that generation is current; readers of the
 * same generation share one load. Served only while the feed is connected (events missed while it
 * was down would leave the snapshot stale).
 */
export class SnapshotCache {
  readonly #cache = new GenerationCache<GeneratorStatus[]>();

  constructor(
    private readonly feed: SnapshotFeed,
    private readonly ttlMs = 500,
  ) {}

  invalidate(): void {
    this.#cache.invalidate();
  }

  get(load: () => Promise<GeneratorStatus[]>): Promise<GeneratorStatus[]> {
    if (!this.feed.connected) return load();
    const hit = this.#cache.current();
    if (hit !== null && hit.ageMs < this.ttlMs) return Promise.resolve(hit.value);
    return this.#cache.load(load);
  }
}

function snapshotCaches(): WeakMap<Sql, SnapshotCache> {
  return processWideWeakMap<Sql, SnapshotCache>("ferry.snapshot-caches");
}

/** Makes generatorSnapshot(sql) use `cache` (lib/api does this for the API's handle). */
export function attachSnapshotCache(sql: Sql, cache: SnapshotCache): void {
  snapshotCaches().set(sql, cache);
}

export function snapshotCacheOf(sql: Sql): SnapshotCache | undefined {
  return snapshotCaches().get(sql);
}

async function notifyGenerator(sql: Sql, registryId: string, phase: string): Promise<void> {
  await sql.query(`SELECT pg_notify('ferry_events', $1)::text AS n`, JSON.stringify({ type: "generator", registryId, phase }));
  // This process's next read must see the change without waiting for its own notification.
  snapshotCacheOf(sql)?.invalidate();
}

/** Pauses a registry: its generator stops handing out work and its queued tasks are not claimed. */
export async function pauseRegistry(sql: Sql, registryId: string): Promise<void> {
  await loadGeneratorRow(sql, registryId);
  await sql.query(`UPDATE generator_state SET paused = true, phase = 'paused', updated_at = now() WHERE registry_id = $1::uuid RETURNING 1`, registryId);
  await notifyGenerator(sql, registryId, "paused");
}

export async function resumeRegistry(sql: Sql, registryId: string): Promise<void> {
  await loadGeneratorRow(sql, registryId);
  await sql.query(`UPDATE generator_state SET paused = false, phase = 'idle', updated_at = now() WHERE registry_id = $1::uuid RETURNING 1`, registryId);
  await notifyGenerator(sql, registryId, "idle");
}

/**
 * Starts the next round now. While a round is still handing out or running repositories this is
 * a CONFLICT: rounds never overlap (use reset to abandon the current round's cursor).
 *
 * The check and the write are one statement, guarded by the round read: a leader that starts the
 * next round between a separate check and write would otherwise get its fresh round marked done
 * and ended with one repository queued.
 */
export async function triggerRound(sql: Sql, registryId: string): Promise<void> {
  const { round } = await loadGeneratorRow(sql, registryId);
  const updated = await sql.query(
    `UPDATE generator_state SET done = true, next_round_at = now(), round_ended_at = COALESCE(round_ended_at, now()), updated_at = now()
      WHERE registry_id = $1::uuid AND round = $2 AND (round = 0 OR done)
        AND NOT EXISTS (SELECT 1 FROM task WHERE registry_id = $1::uuid AND trigger = $3 AND status IN ('queued','running','retrying'))
      RETURNING 1`,
    registryId,
    round,
    generatorTrigger(round),
  );
  if (updated.length === 0) throw await roundInProgress(sql, registryId);
  await notifyGenerator(sql, registryId, "waiting");
}

/** Why a round cannot be triggered now, as the operator should read it. */
async function roundInProgress(sql: Sql, registryId: string): Promise<AppError> {
  const row = await loadGeneratorRow(sql, registryId);
  const n = await liveRoundTasks(sql, registryId, row.round);
  if (row.done && n > 0) return new AppError("CONFLICT", `round ${row.round} still has ${n} repositories to finish`);
  return new AppError("CONFLICT", `round ${row.round} is still in progress`);
}

/**
 * Resets a generator: the current round's cursor is dropped and a new round starts at the next
 * tick (the seed's Reset). Tasks already queued finish; the new round's dedupe absorbs repeats.
 */
export async function resetGenerator(sql: Sql, registryId: string): Promise<void> {
  await loadGeneratorRow(sql, registryId);
  await sql.query(
    `UPDATE generator_state SET round = round + 1, last_repo = '', done = false, wait_time_ms = 0, last_task_at = NULL,
            round_started_at = now(), round_ended_at = NULL, next_round_at = NULL, last_error = NULL, phase = 'listing', updated_at = now()
      WHERE registry_id = $1::uuid RETURNING 1`,
    registryId,
  );
  await notifyGenerator(sql, registryId, "listing");
}
