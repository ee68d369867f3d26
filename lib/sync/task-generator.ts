/**
 * The seed's TaskGenerator: per registry, hands out one `syncRepo` task at a time by walking the
 * catalog with `getNextRepo(lastRepo)`.
 *
 * State machine (all of it in `TaskGeneratorState`, a plain object the scheduler persists):
 *
 *   - running: `next()` asks `getNextRepo(lastRepo)`. A repository → a task, `lastRepo` moves on,
 *     `waitTimeMs = 0`, `lastTaskAt = now`. `""` → `done = true` (the round is over).
 *   - backing off: `getNextRepo` threw. `waitTimeMs` becomes `max(waitTimeMs, 1 s) * 2` (2 s, 4 s,
 *     8 s…) capped at the poll interval, `lastTaskAt = now`, and the error is rethrown. While
 *     `now - lastTaskAt <= waitTimeMs`, `next()` returns null without calling upstream.
 *   - done: `next()` returns null until `reset()`, which clears cursor, done flag, wait and the
 *     service's catalog and starts the next round (`round + 1`, `roundStartedAt = now`).
 *
 * Exactly the seed's arithmetic, with one deliberate difference: the wait check only applies when
 * `waitTimeMs > 0`. Go's nanosecond clock makes `time.Since(last) <= 0` practically never true; a
 * millisecond clock would make two calls in the same millisecond wait for nothing.
 *
 * Because the state is injected and exported, a restarted process resumes the round at `lastRepo`
 * (getNextRepo is a binary search after it, so resuming costs one catalog fetch, not a rescan).
 */
import type { SyncContext, SyncRepoResult, SyncService } from "./service-types";

/** The generator's durable state; times are epoch milliseconds (null: never). */
export interface TaskGeneratorState {
  lastRepo: string;
  done: boolean;
  waitTimeMs: number;
  lastTaskAt: number | null;
  round: number;
  roundStartedAt: number | null;
}

/** One `syncRepo` unit of work, as data (for a durable queue) plus a runner. */
export interface SyncRepoTask {
  kind: "syncRepo";
  registryName: string;
  /** Upstream repository name. */
  repo: string;
  run(ctx: SyncContext): Promise<SyncRepoResult>;
}

export interface TaskGeneratorOptions {
  /** Only `getNextRepo`, `resetCatalog` and `syncRepo` are used. */
  service: Pick<SyncService, "registryName" | "getNextRepo" | "resetCatalog" | "syncRepo">;
  /** The cap on the backoff wait: the registry's poll interval. */
  maxWaitTimeMs: number;
  /** Restored state; a fresh round when absent. */
  state?: Partial<TaskGeneratorState>;
  /** Injected clock (epoch ms), for tests. */
  now?: () => number;
  /** Called after every state change, e.g. to persist it. */
  onStateChange?: (state: TaskGeneratorState) => void;
}

export const INITIAL_GENERATOR_STATE: TaskGeneratorState = Object.freeze({
  lastRepo: "",
  done: false,
  waitTimeMs: 0,
  lastTaskAt: null,
  round: 0,
  roundStartedAt: null,
});

/** Hands out one syncRepo task at a time for one registry; see the module comment. */
export class TaskGenerator {
  readonly name = "SyncGenerator";
  private s: TaskGeneratorState;
  private readonly now: () => number;
  private readonly service: TaskGeneratorOptions["service"];
  private readonly maxWaitTimeMs: number;
  private readonly onStateChange: ((state: TaskGeneratorState) => void) | undefined;
  /** Serialises next()/reset(): the seed's mutex. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: TaskGeneratorOptions) {
    if (!Number.isFinite(options.maxWaitTimeMs) || options.maxWaitTimeMs <= 0) {
      throw new RangeError("TaskGenerator maxWaitTimeMs must be > 0 (the registry's poll interval)");
    }
    this.service = options.service;
    this.maxWaitTimeMs = options.maxWaitTimeMs;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
    this.s = { ...INITIAL_GENERATOR_STATE, ...options.state };
  }

  /** A copy of the state, ready to persist. */
  getState(): TaskGeneratorState {
    return { ...this.s };
  }

  /** True once `getNextRepo` answered "" in this round. */
  isDone(): boolean {
    return this.s.done;
  }

  /** Always ready, as in the seed; the scheduler decides when rounds start. */
  isReady(): boolean {
    return true;
  }

  /** Milliseconds until `next()` will ask upstream again (0 when it would now). */
  msUntilReady(): number {
    if (this.s.waitTimeMs === 0 || this.s.lastTaskAt === null) return 0;
    return Math.max(0, this.s.lastTaskAt + this.s.waitTimeMs - this.now() + 1);
  }

  /**
   * The next task, or null (backing off, or done). Throws what `getNextRepo` threw, after
   * lengthening the wait.
   */
  next(): Promise<SyncRepoTask | null> {
    return this.serial(async () => {
      if (this.s.done) return null;
      const now = this.now();
      if (this.s.waitTimeMs > 0 && this.s.lastTaskAt !== null && now - this.s.lastTaskAt <= this.s.waitTimeMs) return null;
      if (this.s.roundStartedAt === null) this.update({ round: this.s.round + 1, roundStartedAt: now });
      let repo: string;
      try {
        repo = await this.service.getNextRepo(this.s.lastRepo);
      } catch (err) {
        const base = this.s.waitTimeMs === 0 ? 1000 : this.s.waitTimeMs;
        this.update({ waitTimeMs: Math.min(base * 2, this.maxWaitTimeMs), lastTaskAt: this.now() });
        throw err;
      }
      if (repo === "") {
        this.update({ waitTimeMs: 0, lastTaskAt: this.now(), done: true });
        return null;
      }
      this.update({ waitTimeMs: 0, lastTaskAt: this.now(), lastRepo: repo });
      const service = this.service;
      return { kind: "syncRepo", registryName: service.registryName, repo, run: (ctx) => service.syncRepo(ctx, repo) };
    });
  }

  /** Starts the next round: clears cursor, catalog, done flag and wait. */
  reset(): Promise<void> {
    return this.serial(async () => {
      this.service.resetCatalog();
      this.update({ lastRepo: "", done: false, waitTimeMs: 0, round: this.s.round + 1, roundStartedAt: this.now() });
    });
  }

  private update(patch: Partial<TaskGeneratorState>): void {
    this.s = { ...this.s, ...patch };
    this.onStateChange?.(this.getState());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
