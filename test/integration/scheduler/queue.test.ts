import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import {
  addEvent,
  cancel,
  claim,
  enqueue,
  EventListener,
  getTask,
  PRIORITY,
  pruneHistory,
  retry,
  sqlFromPrisma,
  WorkerPool,
  type FerryEvent,
  type Sql,
  type TaskEnd,
  type TaskHandler,
} from "../../../lib/scheduler";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { waitFor as waitUntil } from "../../helpers/wait";

const waitFor = <T>(fn: () => Promise<T | null | undefined | false>) => waitUntil("the condition", fn, 15_000);

const log = createLogger({ level: "silent" });

describe("task queue and workers", () => {
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let registryId: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url, { poolSize: 20 });
    sql = sqlFromPrisma(db);
    registryId = (await db.registry.create({ data: { name: "up", config: {} } })).id;
  });
  afterAll(async () => {
    await db.$disconnect();
    await tdb.drop();
  });

  it("deduplicates 100 concurrent identical requests into one task, raising its priority", async () => {
    const base = { kind: "syncImage" as const, registryId, repository: "dedupe/app", reference: "v1", trigger: "on-demand" };
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => enqueue(sql, { ...base, priority: i === 57 ? PRIORITY.onDemand : PRIORITY.periodic })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.task.id)).size).toBe(1);
    expect((await getTask(sql, results[0]!.task.id))!.priority).toBe(PRIORITY.onDemand);
    await cancel(sql, results[0]!.task.id);
    // Once it has ended, the same request queues a new task.
    const again = await enqueue(sql, { ...base, priority: 0 });
    expect(again.created).toBe(true);
    await cancel(sql, again.task.id);
  });

  it("claims the most urgent task first and skips paused registries", async () => {
    const paused = (await db.registry.create({ data: { name: "paused", config: {}, generator: { create: { paused: true } } } })).id;
    await enqueue(sql, { kind: "syncRepo", registryId: paused, repository: "p/x", priority: PRIORITY.onDemand + 10, trigger: "t" });
    const low = await enqueue(sql, { kind: "syncRepo", registryId, repository: "order/low", priority: PRIORITY.periodic, trigger: "t" });
    const high = await enqueue(sql, { kind: "syncImage", registryId, repository: "order/high", reference: "1", priority: PRIORITY.onDemand, trigger: "t" });
    const first = await claim(sql, "w1", 10_000);
    const second = await claim(sql, "w2", 10_000);
    expect([first?.id, second?.id]).toEqual([high.task.id, low.task.id]);
    expect(first!.attempts).toBe(1);
    expect(await claim(sql, "w3", 10_000)).toBeNull();
    await cancel(sql, first!.id);
    await cancel(sql, second!.id);
    await db.generatorState.update({ where: { registryId: paused }, data: { paused: false } });
    const resumed = await claim(sql, "w4", 10_000);
    expect(resumed?.repository).toBe("p/x");
    await cancel(sql, resumed!.id);
  });

  it("runs each task exactly once across two pools, and publishes events", async () => {
    const listener = new EventListener(tdb.url, log);
    await listener.start();
    const seen: FerryEvent[] = [];
    listener.on("event", (e) => seen.push(e));
    const runs = new Map<string, number>();
    const handler: TaskHandler = async (task) => {
      runs.set(task.repository, (runs.get(task.repository) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
      return { bytesCopied: 10, blobsCopied: 1 };
    };
    const pools = [1, 2].map(() => new WorkerPool({ sql, log, handler, concurrency: 3, pollMs: 100, listener }));
    pools.forEach((p) => p.start());
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await enqueue(sql, { kind: "syncRepo", registryId, repository: `many/r${i}`, priority: 0, trigger: "t" })).task.id);
    await waitFor(async () => {
      const rows = await db.task.count({ where: { repository: { startsWith: "many/" }, status: "succeeded" } });
      return rows === 30;
    });
    await Promise.all(pools.map((p) => p.stop()));
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(30);
    const t = await getTask(sql, ids[0]!);
    expect(t).toMatchObject({ status: "succeeded", bytesCopied: 10, blobsCopied: 1, attempts: 1 });
    await waitFor(async () => seen.some((e) => e.type === "task" && e.id === ids[29] && e.status === "succeeded"));
    await listener.close();
  });

  it("retries retryable failures with backoff and fails permanent ones", async () => {
    let calls = 0;
    const handler: TaskHandler = async (task) => {
      if (task.repository === "fail/permanent") throw Object.assign(new Error("denied"), { code: "DENIED", retryable: false });
      calls++;
      if (calls < 3) throw Object.assign(new Error("upstream 503"), { code: "UPSTREAM_5XX", retryable: true });
      return {};
    };
    const pool = new WorkerPool({ sql, log, handler, concurrency: 2, pollMs: 50, retryPolicy: () => ({ retryDelayMs: 100, maxRetryDelayMs: 200 }) });
    pool.start();
    const flaky = await enqueue(sql, { kind: "syncRepo", registryId, repository: "fail/flaky", priority: 0, trigger: "t", maxAttempts: 3 });
    const permanent = await enqueue(sql, { kind: "syncRepo", registryId, repository: "fail/permanent", priority: 0, trigger: "t", maxAttempts: 3 });
    const done = await waitFor(async () => {
      const t = await getTask(sql, flaky.task.id);
      return t?.status === "succeeded" ? t : null;
    });
    expect(done.attempts).toBe(3);
    const p = await waitFor(async () => {
      const t = await getTask(sql, permanent.task.id);
      return t?.status === "failed" ? t : null;
    });
    expect(p).toMatchObject({ attempts: 1, errorCode: "DENIED", errorMessage: "denied" });
    const again = await retry(sql, p.id, "user:test");
    expect(again.id).not.toBe(p.id);
    await waitFor(async () => (await getTask(sql, again.id))?.status === "failed");
    await pool.stop();
  });

  it("re-runs a task whose worker stopped renewing its lease", async () => {
    const t = await enqueue(sql, { kind: "syncRepo", registryId, repository: "lease/orphan", priority: 0, trigger: "t", maxAttempts: 3 });
    // A worker that claims and then dies: nobody renews.
    const orphan = await claim(sql, "dead-worker", 300);
    expect(orphan?.id).toBe(t.task.id);
    const ran: number[] = [];
    const pool = new WorkerPool({ sql, log, concurrency: 1, pollMs: 50, leaseMs: 2000, handler: async (task) => (ran.push(task.attempts), {}) });
    pool.start();
    const done = await waitFor(async () => {
      const r = await getTask(sql, t.task.id);
      return r?.status === "succeeded" ? r : null;
    });
    await pool.stop();
    expect(done.attempts).toBe(2);
    expect(ran).toEqual([2]);
  });

  it("prunes finished history past the retention period, and nothing else", async () => {
    const old = await enqueue(sql, { kind: "syncRepo", registryId, repository: "prune/old", priority: 0, trigger: "t" });
    const live = await enqueue(sql, { kind: "syncRepo", registryId, repository: "prune/live", priority: 0, trigger: "t" });
    await cancel(sql, old.task.id);
    await addEvent(sql, old.task.id, "info", "something happened");
    await sql.query(`UPDATE task SET finished_at = now() - interval '40 days' WHERE id = $1::bigint RETURNING id`, old.task.id);
    expect(await pruneHistory(sql, 30, 1)).toBe(1);
    expect(await getTask(sql, old.task.id)).toBeNull();
    expect(await db.taskEvent.count({ where: { taskId: BigInt(old.task.id) } })).toBe(0);
    expect((await getTask(sql, live.task.id))?.status).toBe("queued");
    await cancel(sql, live.task.id);
  });

  it("stops a running task when it is cancelled, and hands back unfinished work on shutdown", async () => {
    const started: string[] = [];
    const handler: TaskHandler = (task, ctx) =>
      new Promise((resolve, reject) => {
        started.push(task.id);
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error));
      });
    const pool = new WorkerPool({ sql, log, handler, concurrency: 2, pollMs: 50, leaseMs: 600 });
    pool.start();
    const a = await enqueue(sql, { kind: "syncRepo", registryId, repository: "stop/a", priority: 0, trigger: "t" });
    const b = await enqueue(sql, { kind: "syncRepo", registryId, repository: "stop/b", priority: 0, trigger: "t" });
    await waitFor(async () => started.length === 2);
    await cancel(sql, a.task.id);
    await waitFor(async () => !pool.runningTasks.some((t) => t.id === a.task.id));
    expect((await getTask(sql, a.task.id))!.status).toBe("cancelled");
    await pool.stop(300);
    const back = await getTask(sql, b.task.id);
    expect(back).toMatchObject({ status: "queued", attempts: 0, leaseOwner: null });
    await cancel(sql, b.task.id);
  });

  // An operator's cancel landing while the task's handler is finishing. The row decides: once the
  // cancel committed, the task is cancelled and the worker's completion (or failure) matches
  // nothing; what the worker tells its observers (the tasks metric, its log) must say the same, not
  // "succeeded" or "failed". Forced: the handler cancels its own task, then returns or throws,
  // before any lease renewal could notice.
  /** Runs one task through a pool and returns what the pool told its observer. */
  const runOne = async (repository: string, handler: TaskHandler): Promise<{ id: string; end: TaskEnd }> => {
    const ends = new Map<string, TaskEnd>();
    const pool = new WorkerPool({ sql, log, handler, concurrency: 1, pollMs: 50, onTaskEnd: (t, e) => ends.set(t.id, e) });
    const { task } = await enqueue(sql, { kind: "syncRepo", registryId, repository, priority: 0, trigger: "t" });
    pool.start();
    try {
      const end = await waitFor(async () => ends.get(task.id));
      return { id: task.id, end };
    } finally {
      await pool.stop(1000);
    }
  };

  it("a handler that returns after its task was cancelled is reported stopped, not succeeded", async () => {
    const { id, end } = await runOne("race/ok", async (task) => {
      await cancel(sql, task.id);
      return { bytesCopied: 10 };
    });
    expect((await getTask(sql, id))!.status).toBe("cancelled");
    expect(end.outcome).toBe("stopped");
  });

  it("a handler that fails after its task was cancelled is reported stopped, not failed", async () => {
    const { id, end } = await runOne("race/fail", async (task) => {
      await cancel(sql, task.id);
      throw Object.assign(new Error("upstream went away"), { code: "UPSTREAM_ERROR" });
    });
    expect((await getTask(sql, id))!.status).toBe("cancelled");
    expect(end.outcome).toBe("stopped");
  });

  it("a cancel after the task succeeded is a CONFLICT, and the task stays succeeded", async () => {
    const { id, end } = await runOne("race/late", async () => ({}));
    expect(end.outcome).toBe("succeeded");
    await expect(cancel(sql, id)).rejects.toMatchObject({ code: "CONFLICT", message: `cannot cancel task ${id}: it is already succeeded` });
    expect((await getTask(sql, id))!.status).toBe("succeeded");
  });
});
