/**
 * Control API speed (issue 7): the generator-status query under load, and how fast a task event
 * reaches a GraphQL subscriber over SSE.
 *
 *   npx tsx bench/api-generators.ts [--clients 50] [--seconds 10] [--registries 20] [--repos 300]
 *                                   [--history 100000] [--events 20] [--only rest|graphql]
 *
 * A real Ferry (own embedded Postgres) with `--registries` registries: one mirrors a local
 * docker-registry holding `--repos` small images with pollInterval 5s, so rounds of syncRepo tasks
 * keep running during the measurement; the others point at a closed port with pollInterval 10s, so
 * their generators cycle through listing/backing-off. `--history` finished task rows are added
 * first (INSERT ... SELECT generate_series) so the snapshot's counts run on a realistic table.
 * Load: `--clients` concurrent keep-alive clients (undici Pool, one connection each) looping
 * `GET /api/v1/generators` with an admin API token for `--seconds`, after a 2 s warm-up;
 * requests/s and latency percentiles; then the same with the GraphQL query
 * `{ generators { ... } }` (POST /api/graphql). Load generator and Ferry share the machine, so
 * each load also reports the CPU time Ferry's process and Postgres spent per request (from
 * /proc: less sensitive to neighbours than requests/s), and how the same process's background
 * work fared: the generator tick period (intervals between a backing-off registry's
 * `generator_state.updated_at` writes, one per tick; 1 s + the tick's own time when idle) and the
 * event-loop delay (Ferry's /metrics, reset by reading it right before the load).
 * Events: a `subscription { taskChanged { id status } }` over graphql-sse (`POST
 * /api/graphql/stream`); the bench queues a task with lib/scheduler's enqueue() on its own
 * connection and times until the `next` event for that task id arrives; `--events` times idle and
 * `--events` times while the load runs.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { freePort } from "../lib/db";
import { enqueue, PRIORITY, sqlFromPrisma } from "../lib/scheduler";
import { startRegistry, type TestRegistry } from "../test/helpers/registry";
import { startBenchFerry, type BenchFerry, benchApi as api } from "./ferry-server";
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
    /** "rest" or "graphql": run only that load (e.g. to profile one path). */
    only: { type: "string" },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const REGISTRIES = Number(values.registries);
const REPOS = Number(values.repos);
const HISTORY = Number(values.history);
const EVENTS = Number(values.events);

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

/**
 * CPU seconds (user + system) of a process, from /proc (Linux); NaN elsewhere. `reaped` adds its
 * exited children's (a backend that ended during the window is counted there).
 */
function cpuSeconds(pid: number, reaped = false): number {
  try {
    // Fields after the command name (which may contain spaces): state is field 3, utime 14,
    // stime 15, cutime 16, cstime 17.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const own = Number(f[11]) + Number(f[12]);
    return (reaped ? own + Number(f[13]) + Number(f[14]) : own) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** CPU seconds of Postgres: the postmaster, every live process it forked, and those it reaped. */
function postgresCpuSeconds(postmaster: number): number {
  let sum = cpuSeconds(postmaster, true);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster) sum += cpuSeconds(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

async function postmasterPid(ferry: BenchFerry): Promise<number> {
  const [row] = await ferry.db.$queryRawUnsafe<{ pid: number }[]>(`SELECT pg_backend_pid() AS pid`);
  try {
    return Number(readFileSync(`/proc/${row!.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
  } catch {
    return NaN;
  }
}

/**
 * Watches `generator_state.updated_at` of `registryIds` (each generator tick writes it once per
 * registry) and returns the intervals between successive writes, in ms.
 */
function watchTicks(ferry: BenchFerry, registryIds: string[]): () => Promise<number[]> {
  const last = new Map<string, number>();
  const intervals: number[] = [];
  let stop = false;
  const polling = (async () => {
    while (!stop) {
      const rows = await ferry.db.$queryRawUnsafe<{ registry_id: string; t: number }[]>(
        `SELECT registry_id::text, (extract(epoch FROM updated_at) * 1000)::float8 AS t FROM generator_state WHERE registry_id = ANY($1::uuid[])`,
        registryIds,
      );
      for (const r of rows) {
        const prev = last.get(r.registry_id);
        if (prev !== undefined && r.t !== prev) intervals.push(r.t - prev);
        last.set(r.registry_id, r.t);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    stop = true;
    await polling;
    // The first change seen per registry only tells where the watch started: drop nothing else.
    return intervals;
  };
}

/** syncRepo tasks of the bench's rounds that have ended (the background sync's progress). */
async function roundTasksDone(ferry: BenchFerry): Promise<number> {
  const [row] = await ferry.db.$queryRawUnsafe<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM task WHERE trigger LIKE 'generator:round-%' AND trigger NOT LIKE 'generator:round-old-%' AND status IN ('succeeded', 'failed')`,
  );
  return row!.n;
}

/** Ferry's event-loop delay since the previous read of /metrics (prom-client resets it on collect). */
async function eventLoopLag(ferry: BenchFerry): Promise<{ p50: number; p99: number; max: number }> {
  const text = await (await fetch(`${ferry.url}/metrics`, { headers: { authorization: ferry.auth } })).text();
  const v = (name: string) => Number(new RegExp(`^ferry_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, "m").exec(text)?.[1] ?? NaN) * 1000;
  return { p50: v("p50"), p99: v("p99"), max: v("max") };
}

interface Target {
  label: string;
  request: (auth: string) => { method: "GET" | "POST"; path: string; headers: Record<string, string>; body?: string };
  ok: (status: number, body: string) => boolean;
}

const TARGETS: Target[] = [
  {
    label: "GET /api/v1/generators",
    request: (auth) => ({ method: "GET", path: "/api/v1/generators", headers: { authorization: auth } }),
    ok: (status, body) => status === 200 && body.includes('"items"'),
  },
  {
    label: "POST /api/graphql { generators }",
    request: (auth) => ({
      method: "POST",
      path: "/api/graphql",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ generators { registryName phase paused round reposDone reposQueued runningTasks lastError updatedAt } }" }),
    }),
    ok: (status, body) => status === 200 && body.includes('"generators"') && !body.includes('"errors"'),
  },
];

interface LoadResult {
  count: number;
  errors: number;
  seconds: number;
  latencies: number[];
  /** CPU ms per request: Ferry's process, Postgres, this load generator. */
  ferryCpuMs: number;
  clientCpuMs: number;
  pgCpuMs: number;
  ticks: number[];
  lag: { p50: number; p99: number; max: number };
  /** Repositories the background sync finished during the window. */
  synced: number;
}

async function load(ferry: BenchFerry, target: Target, postmaster: number, tickIds: string[]): Promise<LoadResult> {
  const pool = new Pool(ferry.url, { connections: CLIENTS, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const req = target.request(ferry.auth);
  const one = async () => {
    const t0 = performance.now();
    const r = await pool.request(req);
    const body = await r.body.text();
    const ms = performance.now() - t0;
    if (!target.ok(r.statusCode, body)) errors++;
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
  await eventLoopLag(ferry); // resets the histogram
  const stopTicks = watchTicks(ferry, tickIds);
  const done0 = await roundTasksDone(ferry);
  const ferryCpu0 = cpuSeconds(ferry.child.pid!);
  const pgCpu0 = postgresCpuSeconds(postmaster);
  const clientCpu0 = process.cpuUsage();
  measuring = true;
  errors = 0;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const count = latencies.length;
  const ferryCpuMs = ((cpuSeconds(ferry.child.pid!) - ferryCpu0) * 1000) / count;
  const pgCpuMs = ((postgresCpuSeconds(postmaster) - pgCpu0) * 1000) / count;
  const clientCpu = process.cpuUsage(clientCpu0);
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000 / count;
  const ticks = await stopTicks();
  const lag = await eventLoopLag(ferry);
  const synced = (await roundTasksDone(ferry)) - done0;
  stop = true;
  await Promise.all(loops);
  await pool.close();
  return { count, errors, seconds, latencies, ferryCpuMs, pgCpuMs, clientCpuMs, ticks, lag, synced };
}

function report(label: string, l: LoadResult): void {
  console.log(`${label}, ${CLIENTS} clients, ${l.seconds.toFixed(1)} s: ${(l.count / l.seconds).toFixed(0)} req/s, errors ${l.errors}, ${fmt(summarize(l.latencies))}`);
  console.log(`  CPU per request: ferry ${l.ferryCpuMs.toFixed(2)} ms, postgres ${l.pgCpuMs.toFixed(2)} ms, load generator ${l.clientCpuMs.toFixed(2)} ms`);
  const t = summarize(l.ticks);
  console.log(
    `  same process meanwhile: generator tick period n=${t.n} p50=${t.p50.toFixed(0)} ms max=${t.max.toFixed(0)} ms; event-loop delay p50=${l.lag.p50.toFixed(1)} ms p99=${l.lag.p99.toFixed(1)} ms max=${l.lag.max.toFixed(1)} ms; repositories synced ${l.synced}`,
  );
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

    const postmaster = await postmasterPid(f);
    // Each generator tick writes every registry's updated_at once.
    const tickIds = ids;
    const quiet = await (async () => {
      const stopTicks = watchTicks(f, tickIds);
      await eventLoopLag(f);
      const done0 = await roundTasksDone(f);
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      return { ticks: await stopTicks(), lag: await eventLoopLag(f), done: (await roundTasksDone(f)) - done0 };
    })();
    const qt = summarize(quiet.ticks);
    console.log(
      `no API load, ${SECONDS} s: generator tick period n=${qt.n} p50=${qt.p50.toFixed(0)} ms max=${qt.max.toFixed(0)} ms; event-loop delay p50=${quiet.lag.p50.toFixed(1)} ms p99=${quiet.lag.p99.toFixed(1)} ms max=${quiet.lag.max.toFixed(1)} ms; repositories synced ${quiet.done}`,
    );

    const idle = await eventLatencies(f, ids[1]!, EVENTS);
    console.log(`task event → SSE subscriber, idle:      ${fmt(summarize(idle.filter(Number.isFinite)))} lost=${idle.filter((x) => !Number.isFinite(x)).length}`);

    const busyP = (async () => {
      await new Promise((r) => setTimeout(r, 2500));
      return eventLatencies(f, ids[1]!, EVENTS);
    })();
    const l = values.only === "graphql" ? null : await load(f, TARGETS[0]!, postmaster, tickIds);
    const busy = await busyP;
    const g = values.only === "rest" ? null : await load(f, TARGETS[1]!, postmaster, tickIds);
    const snap = (await api(f, "GET", "/generators")) as { items: { registryName: string; phase: string; round: number; reposDone: number; runningTasks: number }[] };
    const tasks = await f.db.$queryRawUnsafe<{ status: string; n: bigint }[]>(
      `SELECT status, count(*) AS n FROM task WHERE trigger LIKE 'generator:round-%' AND trigger NOT LIKE 'generator:round-old-%' GROUP BY status`,
    );
    if (l) report(TARGETS[0]!.label, l);
    if (g) report(TARGETS[1]!.label, g);
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
