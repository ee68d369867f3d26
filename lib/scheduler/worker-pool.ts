import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Logger } from "../observability";
import type { SyncContext, SyncProgress } from "../sync/service-types";
import type { EventListener } from "./events";
import { addEvent, claim, complete, fail, reapExpired, release, renew, type Progress } from "./queue";
import type { Sql } from "./sql";
import type { TaskRecord, TaskResult } from "./task-types";

/** Runs one task. Throw to fail it; an error's `code` and `retryable` decide what happens next. */
export type TaskHandler = (task: TaskRecord, ctx: SyncContext) => Promise<TaskResult>;

export interface RetryPolicy {
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

export interface WorkerPoolOptions {
  sql: Sql;
  log: Logger;
  handler: TaskHandler;
  /** Workers in this process; default: one per CPU, at least 2. */
  concurrency?: number;
  /** How long a claim lasts without renewal; a dead worker's task is re-run after this. */
  leaseMs?: number;
  /** Idle poll interval; events wake workers sooner. */
  pollMs?: number;
  /** Backoff for a task's retries (from its registry's config). */
  retryPolicy?: (task: TaskRecord) => Promise<RetryPolicy> | RetryPolicy;
  listener?: EventListener;
  /** Events kept per task; past it only warnings and errors are stored. */
  maxEventsPerTask?: number;
  /** Told when a task ends in this process (metrics); must not throw or block. */
  onTaskEnd?: (task: TaskRecord, end: TaskEnd) => void;
}

/** How a task run ended, for observers: `retrying` will run again, `stopped` was cancelled or handed back. */
export interface TaskEnd {
  outcome: "succeeded" | "failed" | "retrying" | "stopped";
  durationMs: number;
  result?: TaskResult;
  errorCode?: string;
}

/**
 * N workers in one process claiming tasks from Postgres. Each running task renews its lease every
 * third of the lease period; a renewal that finds the task cancelled (or reclaimed) aborts the
 * task's signal so the sync stops at its next safe point and cleans its staging.
 */
export class WorkerPool {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #o: Required<Omit<WorkerPoolOptions, "listener" | "retryPolicy" | "onTaskEnd">> & Pick<WorkerPoolOptions, "listener" | "retryPolicy" | "onTaskEnd">;
  #running = new Map<string, { task: TaskRecord; abort: AbortController; done: Promise<void> }>();
  #loops: Promise<void>[] = [];
  #stopping = false;
  #wake: Array<() => void> = [];
  #reaper: NodeJS.Timeout | null = null;
  #onEvent = (e: { type: string; status?: string }) => {
    if (e.type === "task" && (e.status === "queued" || e.status === "retrying")) this.#wakeOne();
  };

  constructor(options: WorkerPoolOptions) {
    this.#o = {
      concurrency: Math.max(2, os.availableParallelism()),
      leaseMs: 30_000,
      pollMs: 1000,
      maxEventsPerTask: 200,
      ...options,
    };
  }

  get runningTasks(): TaskRecord[] {
    return [...this.#running.values()].map((r) => r.task);
  }

  start(): void {
    this.#o.listener?.on("event", this.#onEvent);
    for (let i = 0; i < this.#o.concurrency; i++) this.#loops.push(this.#loop(i));
    this.#reaper = setInterval(() => {
      reapExpired(this.#o.sql).then(
        (reaped) => reaped.forEach((t) => this.#o.log.warn({ taskId: t.id, status: t.status }, "lease expired; task handed back")),
        (err: unknown) => this.#o.log.warn({ err }, "reaping expired leases failed"),
      );
    }, Math.max(1000, this.#o.leaseMs / 2));
  }

  /**
   * Stops claiming, lets running tasks finish until `deadlineMs`, then aborts the rest and hands
   * them back to the queue (attempt not counted) for another worker.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.#o.listener?.off("event", this.#onEvent);
    if (this.#reaper) clearInterval(this.#reaper);
    this.#wake.splice(0).forEach((w) => w());
    const all = Promise.all(this.#loops);
    const timedOut = await Promise.race([all.then(() => false), sleep(deadlineMs).then(() => true)]);
    if (timedOut) {
      for (const [id, r] of this.#running) {
        r.abort.abort(new Error("shutting down"));
        await release(this.#o.sql, id, this.id).catch(() => {});
      }
      await all;
    }
  }

  #wakeOne(): void {
    this.#wake.shift()?.();
  }

  async #idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, this.#o.pollMs);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake.push(done);
    });
  }

  async #loop(_n: number): Promise<void> {
    while (!this.#stopping) {
      let task: TaskRecord | null = null;
      try {
        task = await claim(this.#o.sql, this.id, this.#o.leaseMs);
      } catch (err) {
        this.#o.log.warn({ err }, "claiming a task failed; retrying");
      }
      if (!task) {
        await this.#idle();
        continue;
      }
      try {
        await this.#run(task);
      } catch (err) {
        // #run handles its own failures; reaching here is a bug, but it must not end the loop.
        this.#o.log.error({ err, taskId: task.id }, "worker loop error");
      }
    }
  }

  async #run(task: TaskRecord): Promise<void> {
    const { sql, log, leaseMs } = this.#o;
    const abort = new AbortController();
    let progress: Progress = { bytesCopied: 0, blobsCopied: 0, blobsSkipped: 0 };
    let events = 0;
    const ctx: SyncContext = {
      signal: abort.signal,
      progress: (p: SyncProgress) => {
        progress = { ...p };
      },
      event: (level, message, data) => {
        events++;
        if (events > this.#o.maxEventsPerTask && level !== "warn" && level !== "error") return;
        addEvent(sql, task.id, level, message, data).catch(() => {});
      },
    };
    let lastSaved: Progress | null = null;
    let renewedAt = Date.now();
    let renewing = false;
    const renewal = setInterval(() => {
      // A worker that cannot renew (database unreachable) has lost the task once its lease runs
      // out: the reaper hands it to another worker, so this one must stop touching it.
      if (Date.now() - renewedAt > leaseMs && !abort.signal.aborted) {
        log.debug({ taskId: task.id }, "lease lost: stopping the task");
        abort.abort(new Error("lease lost: could not renew"));
      }
      if (renewing || abort.signal.aborted) return;
      renewing = true;
      const changed = progress !== lastSaved ? progress : undefined;
      renew(sql, task.id, this.id, leaseMs, changed)
        .then(
          (status) => {
            lastSaved = progress;
            if (status === "running") renewedAt = Date.now();
            else abort.abort(new Error(status === "cancelled" ? "cancelled" : `task ${status}`));
          },
          (err: unknown) => log.warn({ err, taskId: task.id }, "lease renewal failed"),
        )
        .finally(() => (renewing = false));
    }, Math.max(200, leaseMs / 3));
    const entry = { task, abort, done: Promise.resolve() };
    this.#running.set(task.id, entry);
    const taskLog = log.child({ taskId: task.id, kind: task.kind, repository: task.repository });
    const startedAt = Date.now();
    const ended = (end: Omit<TaskEnd, "durationMs">) => {
      try {
        this.#o.onTaskEnd?.(task, { ...end, durationMs: Date.now() - startedAt });
      } catch {
        // an observer's failure is not the task's
      }
    };
    try {
      taskLog.info({ attempt: task.attempts }, "task started");
      const result = await untilAbandoned(this.#o.handler(task, ctx), abort.signal, ABANDON_AFTER_ABORT_MS);
      if (abort.signal.aborted) {
        ended({ outcome: "stopped", result: { ...progress } });
        return; // cancelled, reclaimed or released: the row already says so
      }
      if (!(await complete(sql, task.id, this.id, { ...progress, ...result }))) {
        // An operator's cancel (or a reclaim after our lease lapsed) committed while the handler
        // was finishing: the row says cancelled, so observers must not count a success.
        ended({ outcome: "stopped", result: { ...progress, ...result } });
        taskLog.info("task ended elsewhere (cancelled or reclaimed) as it finished; its result is not recorded");
        return;
      }
      ended({ outcome: "succeeded", result: { ...progress, ...result } });
      taskLog.info({ bytes: result.bytesCopied ?? progress.bytesCopied }, "task succeeded");
    } catch (err) {
      if (abort.signal.aborted) {
        ended({ outcome: "stopped", result: { ...progress } });
        taskLog.info({ reason: String(abort.signal.reason) }, "task stopped");
        return;
      }
      const e = err as { code?: unknown; message?: unknown; retryable?: unknown; outcomes?: TaskResult["outcomes"] };
      // With the database down even the retry policy lookup can fail; fall back to defaults
      // rather than let the failure path throw (the lease then lapses and the reaper retries).
      const policy = (await Promise.resolve(this.#o.retryPolicy?.(task)).catch(() => undefined)) ?? { retryDelayMs: 1000, maxRetryDelayMs: 60_000 };
      const delay = Math.min(policy.retryDelayMs * 2 ** Math.max(0, task.attempts - 1), policy.maxRetryDelayMs);
      const failure = {
        code: typeof e.code === "string" ? e.code : "INTERNAL",
        message: typeof e.message === "string" ? e.message : String(err),
        retryable: e.retryable === true,
        retryDelayMs: delay * (0.8 + Math.random() * 0.4),
        ...(e.outcomes ? { outcomes: e.outcomes } : {}),
      };
      // undefined: the database did not answer (the lease lapses and the reaper retries the task).
      const after = await fail(sql, task.id, this.id, failure).catch(() => undefined);
      if (after === null) {
        // Cancelled (or reclaimed) while the handler was failing: the row says how it ended.
        ended({ outcome: "stopped", result: { ...progress, ...(e.outcomes ? { outcomes: e.outcomes } : {}) } });
        taskLog.info({ code: failure.code }, `task ended elsewhere (cancelled or reclaimed) as it failed: ${failure.message}`);
        return;
      }
      ended({ outcome: after?.status === "retrying" ? "retrying" : "failed", result: { ...progress, ...(e.outcomes ? { outcomes: e.outcomes } : {}) }, errorCode: failure.code });
      taskLog.warn({ code: failure.code, status: after?.status }, `task failed: ${failure.message}`);
      ctx.event?.("error", failure.message, { code: failure.code, attempt: task.attempts });
    } finally {
      clearInterval(renewal);
      this.#running.delete(task.id);
    }
  }
}

/**
 * A handler should stop at its next safe point once its signal aborts; one stuck in I/O that does
 * not watch the signal (a hung connection) must not hold a worker slot forever. After the grace
 * period the worker moves on and the handler is left to finish (or fail) unobserved.
 */
const ABANDON_AFTER_ABORT_MS = 5000;

function untilAbandoned<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    const onAbort = () => {
      timer = setTimeout(() => reject(new Error("abandoned after abort")), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
