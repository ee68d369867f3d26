/**
 * Control API speed (issue 7): the generator-status query under load, and how fast a task event
 * reaches a GraphQL subscriber over SSE.
 *
 *   npx tsx bench/api-generators.ts [--clients 50] [--seconds 10] [--registries 20] [--repos 300]
 *                                   [--history 100000] [--events 20]
 *
 * A real Ferry (own embedded Postgres) with `--registries` registries: one mirrors a local
 * docker-registry holding `--repos` small images with pollInterval 5s, so rounds of syncRepo tasks
 * keep running during the measurement; the others point at a closed port with pollInterval 10s, so
 * their generators cycle through listing/backing-off. `--history` finished task rows are added
 * first (INSERT ... SELECT generate_series) so the snapshot's counts run on a realistic table.
 * Load: `--clients` concurrent keep-alive clients (undici Pool, one connection each) looping
 * `GET /api/v1/generators` with an admin API token for `--seconds`, after a 2 s warm-up;
 * requests/s and latency percentiles. Load generator and Ferry share the machine.
 * Events: a `subscription { taskChanged { id status } }` over graphql-sse (`POST
 * /api/graphql/stream`); the bench queues a task with lib/scheduler's enqueue() on its own
 * connection and times until the `next` event for that task id arrives; `--events` times idle and
 * `--events` times while the load runs.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { freePort } from "../lib/db";
import { enqueue, PRIORITY, sqlFromPrisma } from "../lib/scheduler";
import { startRegistry, type TestRegistry } from "../test/helpers/registry";
import { startBenchFerry, type BenchFerry } from "./ferry-server";
import { fmt, onInterrupt, summarize } from "./harness";
import { fillRegistry, makeImage } from "./registry-content";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "50" },
    seconds: { type: "string", default: "10" },
    registries: { type: "string", default: "20" },
    repos: { type: "string", default: "300" },
    history: { type: "string", default: "100000" },
    events: { type: "string", default: "20" },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const REGISTRIES = Number(values.registries);
const REPOS = Number(values.repos);
const HISTORY = Number(values.history);
const EVENTS = Number(values.events);

async function api(ferry: BenchFerry, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${ferry.url}/api/v1${path}`, {
    method,
    headers: { authorization: ferry.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function setup(ferry: BenchFerry, reg: TestRegistry): Promise<string[]> {
  const deadPort = await freePort();
  const ids: string[] = [];
  for (let i = 0; i < REGISTRIES; i++) {
    const live = i === 0;
    const r = (await api(ferry, "POST", "/registries", {
      name: `reg-${String(i).padStart(2, "0")}`,
      urls: [live ? reg.url : `http://127.0.0.1:${deadPort}`],
      pollInterval: live ? "5s" : "10s",
      retryDelay: "1s",
      maxRetries: 1,
    })) as { id: string };
    ids.push(r.id);
  }
  if (HISTORY > 0) {
    await ferry.db.$executeRawUnsafe(
      `INSERT INTO task (kind, registry_id, repository, priority, status, attempts, max_attempts, trigger, run_after, queued_at, started_at, finished_at)
       SELECT 'syncRepo', regs[1 + (i % array_length(regs, 1))], 'library/old-' || (i % 500), 0,
              CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 1, 2, 'generator:round-old-' || (i / 5000),
              ts, ts, ts, ts + interval '2 seconds'
         FROM (SELECT i, now() - ($1::int - i) * interval '2 seconds' - interval '1 day' AS ts FROM generate_series(1, $1::int) AS i) g,
              (SELECT array_agg(id) AS regs FROM registry) r`,
      HISTORY,
    );
    await ferry.db.$executeRawUnsafe(`ANALYZE task`);
  }
  return ids;
}

/** One graphql-sse subscription; `next` events are handed to `onEvent` with their arrival time. */
async function subscribe(ferry: BenchFerry, onEvent: (data: { id: string; status: string }, at: number) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${ferry.url}/api/graphql/stream`, {
    method: "POST",
    headers: { authorization: ferry.auth, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query: "subscription { taskChanged { id status } }" }),
    signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`subscription: ${res.status} ${await res.text()}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buf = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buf += value;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const at = performance.now();
          const data = frame
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("");
          if (!frame.includes("event: next") || !data) continue;
          const payload = JSON.parse(data) as { data?: { taskChanged?: { id: string; status: string } } };
          if (payload.data?.taskChanged) onEvent(payload.data.taskChanged, at);
        }
      }
    } catch {
      // aborted at the end of the bench
    }
  })();
}

/** Task id → arrival time of its first event, and who waits for one. */
const arrivals = new Map<string, number>();
const waiters = new Map<string, (at: number) => void>();

function onTaskEvent(t: { id: string }, at: number): void {
  const w = waiters.get(t.id);
  if (w) w(at);
  else if (!arrivals.has(t.id)) arrivals.set(t.id, at);
}

async function eventLatencies(ferry: BenchFerry, registryId: string, n: number): Promise<number[]> {
  const sql = sqlFromPrisma(ferry.db);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    let resolve!: (at: number) => void;
    const arrived = new Promise<number>((r) => (resolve = r));
    const { task } = await enqueue(sql, {
      kind: "syncImage",
      registryId,
      repository: `bench/event-${randomBytes(4).toString("hex")}`,
      reference: "latest",
      priority: PRIORITY.periodic,
      trigger: "bench",
      // Far in the future: no worker claims it, so its only event is `queued`.
      runAfter: new Date(Date.now() + 3_600_000),
    });
    // The event may have come in before enqueue returned.
    const early = arrivals.get(task.id);
    if (early !== undefined) resolve(early);
    else waiters.set(task.id, resolve);
    const timeout = setTimeout(() => resolve(NaN), 5000);
    const at = await arrived;
    clearTimeout(timeout);
    waiters.delete(task.id);
    out.push(at - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

async function load(ferry: BenchFerry): Promise<{ count: number; errors: number; seconds: number; latencies: number[] }> {
  const pool = new Pool(ferry.url, { connections: CLIENTS, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const one = async () => {
    const t0 = performance.now();
    const r = await pool.request({ method: "GET", path: "/api/v1/generators", headers: { authorization: ferry.auth } });
    const body = await r.body.text();
    const ms = performance.now() - t0;
    if (r.statusCode !== 200 || !body.includes('"items"')) errors++;
    if (measuring) latencies.push(ms);
  };
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (!stop) {
      try {
        await one();
      } catch {
        errors++;
      }
    }
  });
  await new Promise((r) => setTimeout(r, 2000));
  measuring = true;
  errors = 0;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const count = latencies.length;
  stop = true;
  await Promise.all(loops);
  await pool.close();
  return { count, errors, seconds, latencies };
}

async function main(): Promise<void> {
  let ferry: BenchFerry | null = null;
  let reg: TestRegistry | null = null;
  const abort = new AbortController();
  const cleanup = async () => {
    abort.abort();
    await ferry?.close().catch(() => {});
    await reg?.stop().catch(() => {});
  };
  const stopInterrupt = onInterrupt(cleanup);
  try {
    reg = await startRegistry();
    await fillRegistry(
      reg,
      Array.from({ length: REPOS }, (_, i) => makeImage(`library/app-${String(i).padStart(4, "0")}`, [randomBytes(8192), randomBytes(4096)])),
    );
    // BENCH_DB_POOL_SIZE: Ferry's connection pool per process (the API and the sync share it).
    ferry = await startBenchFerry(process.env.BENCH_DB_POOL_SIZE ? { env: { FERRY_DB_POOL_SIZE: process.env.BENCH_DB_POOL_SIZE } } : {});
    const f = ferry;
    const ids = await setup(f, reg);
    // Let the first round get going.
    await new Promise((r) => setTimeout(r, 3000));
    await subscribe(f, onTaskEvent, abort.signal);
    await new Promise((r) => setTimeout(r, 500));

    const idle = await eventLatencies(f, ids[1]!, EVENTS);
    console.log(`task event → SSE subscriber, idle:      ${fmt(summarize(idle.filter(Number.isFinite)))} lost=${idle.filter((x) => !Number.isFinite(x)).length}`);

    const busyP = (async () => {
      await new Promise((r) => setTimeout(r, 2500));
      return eventLatencies(f, ids[1]!, EVENTS);
    })();
    const l = await load(f);
    const busy = await busyP;
    const snap = (await api(f, "GET", "/generators")) as { items: { registryName: string; phase: string; round: number; reposDone: number; runningTasks: number }[] };
    const tasks = await f.db.$queryRawUnsafe<{ status: string; n: bigint }[]>(
      `SELECT status, count(*) AS n FROM task WHERE trigger LIKE 'generator:round-%' AND trigger NOT LIKE 'generator:round-old-%' GROUP BY status`,
    );
    console.log(`GET /api/v1/generators, ${CLIENTS} clients, ${l.seconds.toFixed(1)} s: ${(l.count / l.seconds).toFixed(0)} req/s, errors ${l.errors}, ${fmt(summarize(l.latencies))}`);
    console.log(`task event → SSE subscriber, under load: ${fmt(summarize(busy.filter(Number.isFinite)))} lost=${busy.filter((x) => !Number.isFinite(x)).length}`);
    const live = snap.items[0]!;
    console.log(
      `sync activity: ${live.registryName} phase=${live.phase} round=${live.round} reposDone=${live.reposDone} running=${live.runningTasks}; generator tasks by status: ${tasks.map((t) => `${t.status}=${t.n}`).join(" ")}`,
    );
  } finally {
    stopInterrupt();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
