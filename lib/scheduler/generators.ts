/**
 * Runs the seed's TaskGenerator for every registry with periodic sync, one leader per registry
 * across all Ferry processes.
 *
 * Leadership is a Postgres session advisory lock per registry, held on one dedicated connection.
 * It needs no lease bookkeeping: when the leader process dies, its connection closes and
 * Postgres releases the lock at once, so another process's next tick (a second later) takes
 * over; when the connection merely breaks, this process stops acting as leader before anyone else
 * can start. The generator's state lives in `generator_state`, so the new leader continues the
 * same round from `last_repo`.
 *
 * A round: the generator hands out `syncRepo` tasks (at most `maxInFlight` live at a time) until
 * `getNextRepo` says "" (done). The round ends when its last task has ended; the next round starts
 * `pollInterval` after that, so rounds never overlap.
 *
 * Registries advance concurrently (at most `concurrency` steps at once): a registry whose upstream
 * hangs or retries must not hold back the others' ticks. A registry whose previous step is still
 * running (or waiting for a slot) is skipped by the next tick, so one registry's steps never run
 * side by side.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "../observability";
import { Semaphore } from "../concurrency";
import type { SyncService } from "../sync/service-types";
import { TaskGenerator } from "../sync/task-generator";
import { loadGeneratorRow, saveGenerator, toGeneratorState, type GeneratorRow } from "./generator-state";
import { enqueue } from "./queue";
import type { Sql } from "./sql";
import { PRIORITY } from "./task-types";

export interface PeriodicRegistry {
  service: Pick<SyncService, "registryName" | "getNextRepo" | "resetCatalog" | "syncRepo">;
  pollIntervalMs: number;
  maxAttempts: number;
}

export interface GeneratorCoordinatorOptions {
  sql: Sql;
  databaseUrl: string;
  log: Logger;
  /** Registries that want periodic sync now (enabled, with content rules and a poll interval). */
  registries: () => Promise<Array<{ id: string }>>;
  /** The service for one registry; null when it no longer syncs periodically. */
  resolve: (registryId: string) => Promise<PeriodicRegistry | null>;
  tickMs?: number;
  /** syncRepo tasks of one round queued or running at once. */
  maxInFlight?: number;
  /** Registries whose generator step runs at once (each step is mostly waiting on its upstream). */
  concurrency?: number;
}

/** A generator round's tasks carry `trigger = generator:round-<n>` (SQL builds it from the prefix too). */
export const GENERATOR_TRIGGER_PREFIX = "generator:round-";
export const generatorTrigger = (round: number) => `${GENERATOR_TRIGGER_PREFIX}${round}`;

export class GeneratorCoordinator {
  readonly id = `gen-${process.pid}-${randomUUID().slice(0, 8)}`;
  #o: Required<GeneratorCoordinatorOptions>;
  #client: pg.Client | null = null;
  #led = new Set<string>();
  #seenRound = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #stopped = false;
  /** Steps started and not yet ended (queued for a slot or running), by registry. */
  #busy = new Map<string, Promise<void>>();
  #slots: Semaphore;

  constructor(options: GeneratorCoordinatorOptions) {
    this.#o = { tickMs: 1000, maxInFlight: 4, concurrency: 8, ...options };
    this.#slots = new Semaphore(this.#o.concurrency);
  }

  /** Registries this process currently leads. */
  get leading(): string[] {
    return [...this.#led];
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#ticking = this.#dispatch()
        .then(() => {})
        .catch((err: unknown) => this.#o.log.warn({ err }, "generator tick failed"))
        .finally(() => {
          this.#ticking = null;
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.tickMs);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking;
    // In-flight steps end on their own (each checks #stopped between tasks); the locks go with
    // the connection only after them, so no other process starts leading mid-step.
    await Promise.all(this.#busy.values());
    const c = this.#client;
    this.#client = null;
    this.#led.clear();
    await c?.end().catch(() => {});
  }

  /** One pass: take leadership where free, advance every registry led here; resolves once those steps ended. */
  async tick(): Promise<void> {
    await Promise.all(await this.#dispatch());
  }

  /**
   * Takes leadership where free and starts a step for every registry led here that has none in
   * flight; returns the started steps without waiting for them (the timer loop ticks on while a
   * slow registry's step is still running).
   */
  async #dispatch(): Promise<Array<Promise<void>>> {
    const client = await this.#connection();
    if (!client) return [];
    const wanted = await this.#o.registries();
    const wantedIds = new Set(wanted.map((r) => r.id));
    for (const id of [...this.#led]) {
      // A registry still mid-step keeps its lock until the step ended; the next tick releases it.
      if (!wantedIds.has(id) && !this.#busy.has(id)) {
        await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [`ferry-generator:${id}`]);
        this.#led.delete(id);
      }
    }
    const started: Array<Promise<void>> = [];
    for (const { id } of wanted) {
      if (this.#stopped) break;
      if (this.#busy.has(id)) continue;
      if (!this.#led.has(id)) {
        const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok`, [`ferry-generator:${id}`]);
        if (!rows[0]?.ok) continue;
        this.#led.add(id);
        this.#o.log.info({ registryId: id }, "leading this registry's generator");
      }
      started.push(this.#startStep(id));
    }
    return started;
  }

  #startStep(registryId: string): Promise<void> {
    const step = this.#slots
      .run(async () => {
        // Leadership can be lost (connection broke) or the coordinator stopped while waiting for a slot.
        if (this.#stopped || !this.#led.has(registryId)) return;
        await this.#advance(registryId);
      })
      .catch((err: unknown) => this.#o.log.warn({ err, registryId }, "generator step failed"))
      .finally(() => this.#busy.delete(registryId));
    this.#busy.set(registryId, step);
    return step;
  }

  async #connection(): Promise<pg.Client | null> {
    if (this.#client) return this.#client;
    const client = new pg.Client({ connectionString: this.#o.databaseUrl, connectionTimeoutMillis: 10_000, query_timeout: 10_000 });
    client.on("error", (err) => {
      // The locks died with the session: stop leading before anyone else can start.
      this.#o.log.warn({ err: err.message }, "generator leadership connection lost");
      if (this.#client === client) {
        this.#client = null;
        this.#led.clear();
      }
      client.end().catch(() => {});
    });
    try {
      await client.connect();
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, "cannot connect for generator leadership");
      return null;
    }
    this.#client = client;
    return client;
  }

  async #advance(registryId: string): Promise<void> {
    const { sql } = this.#o;
    const reg = await this.#o.resolve(registryId);
    if (!reg) return;
    let row = await loadGeneratorRow(sql, registryId);
    if (this.#seenRound.get(registryId) !== row.round) {
      // First sight, or an operator reset the round elsewhere: our catalog cache is stale.
      if (this.#seenRound.has(registryId)) reg.service.resetCatalog();
      this.#seenRound.set(registryId, row.round);
    }
    if (row.paused) {
      // Guarded: a resume committed since the read must not be shown as "paused" until a task ends.
      await saveGenerator(sql, registryId, row.round, { phase: "paused", leaderId: this.id, whilePaused: true });
      return;
    }
    const gen = new TaskGenerator({ service: reg.service, maxWaitTimeMs: reg.pollIntervalMs, state: toGeneratorState(row) });
    const live = await liveRoundTasks(sql, registryId, row.round);

    if (row.done || row.round === 0) {
      if (row.round > 0 && live > 0) return void (await saveGenerator(sql, registryId, row.round, { phase: "syncing", leaderId: this.id }));
      if (row.round > 0 && !row.round_ended_at) {
        const ended = new Date();
        const recorded = await saveGenerator(sql, registryId, row.round, {
          phase: "waiting",
          roundEndedAt: ended,
          nextRoundAt: new Date(ended.getTime() + reg.pollIntervalMs),
          leaderId: this.id,
          whileRoundOpen: true,
        });
        if (recorded) this.#o.log.info({ registryId, round: row.round }, "round finished");
        return;
      }
      if (row.round > 0 && row.next_round_at && new Date(row.next_round_at).getTime() > Date.now()) {
        return void (await saveGenerator(sql, registryId, row.round, { phase: "waiting", leaderId: this.id }));
      }
      // Start the next round (or the first).
      await gen.reset();
      reg.service.resetCatalog();
      const ok = await saveGenerator(sql, registryId, row.round, {
        state: gen.getState(),
        phase: "listing",
        roundEndedAt: null,
        nextRoundAt: null,
        lastError: null,
        leaderId: this.id,
      });
      if (!ok) return;
      this.#seenRound.set(registryId, gen.getState().round);
      row = { ...row, round: gen.getState().round, done: false, last_repo: "" } satisfies GeneratorRow;
    }

    let inFlight = live;
    while (inFlight < this.#o.maxInFlight && !this.#stopped) {
      const round = gen.getState().round;
      let task;
      try {
        task = await gen.next();
      } catch (err) {
        const s = gen.getState();
        await saveGenerator(sql, registryId, round, {
          state: s,
          phase: "backing-off",
          lastError: (err as Error).message?.slice(0, 500) ?? String(err),
        });
        this.#o.log.warn({ registryId, waitTimeMs: s.waitTimeMs }, "catalog failed; backing off");
        return;
      }
      if (!task) {
        const s = gen.getState();
        const phase = s.done ? "syncing" : "backing-off";
        // The catalog answered (done) or we are still waiting: only a fresh answer clears the error.
        await saveGenerator(sql, registryId, round, { state: s, phase, ...(s.done ? { lastError: null } : {}) });
        return;
      }
      // Queue first, then move the cursor: a crash (or a lost database) in between re-offers this
      // repository to the next leader. A live task's dedupe key absorbs that; one that already
      // finished would not, so a repository this round has queued before is skipped: once per round.
      if (!(await this.#queuedInRound(registryId, round, task.repo))) {
        await enqueue(sql, {
          kind: "syncRepo",
          registryId,
          repository: task.repo,
          priority: PRIORITY.periodic,
          trigger: generatorTrigger(round),
          maxAttempts: reg.maxAttempts,
        });
        inFlight++;
      }
      const ok = await saveGenerator(sql, registryId, round, { state: gen.getState(), phase: "syncing", lastError: null });
      if (!ok) return;
    }
  }

  async #queuedInRound(registryId: string, round: number, repository: string): Promise<boolean> {
    const rows = await this.#o.sql.query<{ one: number }>(
      `SELECT 1 AS one FROM task WHERE registry_id = $1::uuid AND trigger = $2 AND kind = 'syncRepo' AND repository = $3 LIMIT 1`,
      registryId,
      generatorTrigger(round),
      repository,
    );
    return rows.length > 0;
  }
}

/** Tasks of a generator round still queued, running or retrying. */
export async function liveRoundTasks(sql: Sql, registryId: string, round: number): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM task
      WHERE registry_id = $1::uuid AND trigger = $2 AND status IN ('queued', 'running', 'retrying')`,
    registryId,
    generatorTrigger(round),
  );
  return rows[0]?.n ?? 0;
}
