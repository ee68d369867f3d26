/**
 * The soak (issue 11): a real Ferry under modest, steady, faulty load for a long time, sampling
 * its memory and file descriptors to see whether they grow. Run by hand, not in CI.
 *
 *   npx tsx bench/soak.ts [--minutes 60] [--sample-seconds 30] [--pull-every-ms 3000] [--api-rps 20]
 *   npx tsx bench/soak.ts --summarize bench/results/soak-<time>.csv   (summary of an earlier run)
 *
 * Setup: a real docker-registry holding `periodic/app-NN` (30 repos) and `ondemand/app-NNN` (200
 * repos) small images, behind the seeded fault proxy (test/helpers/fault-proxy.ts) with 3% 5xx,
 * 1% 429 (Retry-After 1), 2% resets before the answer and 1% resets mid-body. Ferry
 * (bench/ferry-server.ts: `node --import tsx server.ts --no-build`, own embedded Postgres) mirrors
 * two registries through the proxy: `periodic` (pollInterval 30s, so rounds keep running; every
 * 2 minutes three of its repos get a new `latest`, so rounds copy new content, not only HEADs)
 * and `ondemand` (onDemand, manifestCheckInterval 60s, so cached tags are re-checked upstream).
 *
 * Load: one pull every `--pull-every-ms` through Ferry's `/v2` (manifest, then config and layers,
 * each blob's sha256 checked), alternating periodic and on-demand names (on-demand ones cycle, so
 * first pulls become tasks and later pulls hit the cache or the upstream check); and GraphQL
 * `generators` and `tasks(first: 20)` queries at `--api-rps` (at most 8 in flight).
 *
 * Every `--sample-seconds`: the Ferry process's RSS (/proc/<pid>/status VmRSS), open fds
 * (/proc/<pid>/fd), V8 heap used/total and event-loop lag p99 (its own /metrics), Postgres
 * connections of its database, task counts, pull/API/fault counters. Written as CSV and a JSON
 * summary to bench/results/soak-<time>.{csv,json}; Ferry's log to bench/results/soak-<time>.log
 * (ignored by git). The summary has start/end/max of RSS, heap and fds, and least-squares slopes
 * over the samples after the first 10% (warm-up), in MiB (or fds) per hour.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startFaultProxy, type FaultKind, type FaultProxy } from "../test/helpers/fault-proxy";
import { startRegistry, type TestRegistry } from "../test/helpers/registry";
import { startBenchFerry, type BenchFerry, benchApi as api } from "./ferry-server";
import { onInterrupt } from "./harness";
import { fillRegistry, makeImage, MT } from "./registry-content";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "60" },
    "sample-seconds": { type: "string", default: "30" },
    "pull-every-ms": { type: "string", default: "3000" },
    "api-rps": { type: "string", default: "20" },
    summarize: { type: "string" },
  },
});
const MINUTES = Number(values.minutes);
const SAMPLE_MS = Number(values["sample-seconds"]) * 1000;
const PULL_EVERY_MS = Number(values["pull-every-ms"]);
const API_RPS = Number(values["api-rps"]);
const PERIODIC_REPOS = 30;
const ONDEMAND_REPOS = 200;
const MiB = 1024 * 1024;

interface Counters {
  pullsOk: number;
  pullsFailed: number;
  pullStatuses: Record<string, number>;
  digestMismatches: number;
  apiOk: number;
  apiFailed: number;
  apiSkipped: number;
  faults: Record<FaultKind, number>;
  upstreamRequests: number;
  updates: number;
}

const counters: Counters = {
  pullsOk: 0,
  pullsFailed: 0,
  pullStatuses: {},
  digestMismatches: 0,
  apiOk: 0,
  apiFailed: 0,
  apiSkipped: 0,
  faults: { error: 0, "429": 0, "reset-before": 0, "reset-mid": 0, truncate: 0, "wrong-length": 0, latency: 0, stall: 0 },
  upstreamRequests: 0,
  updates: 0,
};

interface Sample {
  t: string;
  elapsedS: number;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  fds: number;
  eventLoopLagP99Ms: number;
  pgConnections: number;
  tasksQueued: number;
  tasksRunning: number;
  tasksSucceeded: number;
  tasksFailed: number;
  pullsOk: number;
  pullsFailed: number;
  apiOk: number;
  apiFailed: number;
  faultsInjected: number;
  upstreamRequests: number;
  load1: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const pad = (n: number, w: number) => String(n).padStart(w, "0");

/** Drains the fault proxy's log into the totals, so its arrays do not grow for an hour. */
function drainProxy(proxy: FaultProxy): void {
  const c = proxy.counts();
  for (const k of Object.keys(c) as FaultKind[]) counters.faults[k] += c[k];
  counters.upstreamRequests += proxy.log.length;
  proxy.reset();
}

async function pullOnce(ferry: BenchFerry, repo: string, signal: AbortSignal): Promise<void> {
  const status = (s: number | string) => (counters.pullStatuses[s] = (counters.pullStatuses[s] ?? 0) + 1);
  try {
    const m = await fetch(`${ferry.url}/v2/${repo}/manifests/latest`, { headers: { accept: MT.manifest }, signal: AbortSignal.any([signal, AbortSignal.timeout(120_000)]) });
    const bytes = Buffer.from(await m.arrayBuffer());
    if (m.status !== 200) {
      status(m.status);
      counters.pullsFailed++;
      return;
    }
    const manifest = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const b = await fetch(`${ferry.url}/v2/${repo}/blobs/${d}`, { signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]) });
      const body = Buffer.from(await b.arrayBuffer());
      if (b.status !== 200) {
        status(`blob-${b.status}`);
        counters.pullsFailed++;
        return;
      }
      if (sha256(body) !== d) counters.digestMismatches++;
    }
    status(200);
    counters.pullsOk++;
  } catch (err) {
    if (signal.aborted) return;
    status(`error:${(err as Error).name}`);
    counters.pullsFailed++;
  }
}

const GQL_GENERATORS = "{ generators { registryName phase round reposDone reposQueued runningTasks lastError } }";
const GQL_TASKS = "{ tasks(first: 20) { items { id kind repository status attempts trigger } nextCursor } }";

async function apiOnce(ferry: BenchFerry, i: number): Promise<void> {
  try {
    const res = await fetch(`${ferry.url}/api/graphql`, {
      method: "POST",
      headers: { authorization: ferry.auth, "content-type": "application/json" },
      body: JSON.stringify({ query: i % 2 === 0 ? GQL_GENERATORS : GQL_TASKS }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { errors?: unknown };
    if (res.status === 200 && !body.errors) counters.apiOk++;
    else counters.apiFailed++;
  } catch {
    counters.apiFailed++;
  }
}

async function procStatus(pid: number): Promise<{ rssMiB: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssMiB: rssKb / 1024, fds };
}

async function metric(ferry: BenchFerry): Promise<Record<string, number>> {
  const text = await (await fetch(`${ferry.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(ferry_nodejs_heap_size_used_bytes|ferry_nodejs_heap_size_total_bytes|ferry_nodejs_eventloop_lag_p99_seconds)\s+(\S+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function sample(ferry: BenchFerry, pid: number, t0: number): Promise<Sample> {
  const p = await procStatus(pid);
  const m = await metric(ferry).catch(() => ({}) as Record<string, number>);
  const [pg] = await ferry.db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()`);
  const tasks = await ferry.db.$queryRawUnsafe<{ status: string; n: bigint }[]>(`SELECT status, count(*) AS n FROM task GROUP BY status`);
  const byStatus = Object.fromEntries(tasks.map((r) => [r.status, Number(r.n)]));
  return {
    t: new Date().toISOString(),
    elapsedS: Math.round((Date.now() - t0) / 1000),
    rssMiB: round(p.rssMiB),
    heapUsedMiB: round((m.ferry_nodejs_heap_size_used_bytes ?? NaN) / MiB),
    heapTotalMiB: round((m.ferry_nodejs_heap_size_total_bytes ?? NaN) / MiB),
    fds: p.fds,
    eventLoopLagP99Ms: round((m.ferry_nodejs_eventloop_lag_p99_seconds ?? NaN) * 1000),
    pgConnections: Number(pg?.n ?? NaN),
    tasksQueued: byStatus.queued ?? 0,
    tasksRunning: byStatus.running ?? 0,
    tasksSucceeded: byStatus.succeeded ?? 0,
    tasksFailed: byStatus.failed ?? 0,
    pullsOk: counters.pullsOk,
    pullsFailed: counters.pullsFailed,
    apiOk: counters.apiOk,
    apiFailed: counters.apiFailed,
    faultsInjected: Object.values(counters.faults).reduce((a, b) => a + b, 0),
    upstreamRequests: counters.upstreamRequests,
    load1: round(loadavg()[0]!),
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function summarizeSeries(samples: Sample[], key: keyof Sample) {
  const ys = samples.map((s) => s[key] as number);
  const warm = samples.slice(Math.floor(samples.length / 10));
  const half = samples.slice(Math.floor(samples.length / 2));
  const perHour = (ss: Sample[]) => round(slope(ss.map((s) => s.elapsedS / 3600), ss.map((s) => s[key] as number)));
  return {
    start: ys[0],
    afterWarmup: warm[0]?.[key],
    end: ys.at(-1),
    max: Math.max(...ys),
    min: Math.min(...ys),
    slopePerHourAfterWarmup: perHour(warm),
    slopePerHourSecondHalf: perHour(half),
    // A single sample catches the heap before or after a GC; the low of each 10-minute window
    // is the floor memory returns to, which is what grows when something leaks.
    windowLows: windows(samples).map((w) => Math.min(...w.map((s) => s[key] as number))),
    windowHighs: windows(samples).map((w) => Math.max(...w.map((s) => s[key] as number))),
  };
}

/** Samples in consecutive 10-minute windows of elapsed time. */
function windows(samples: Sample[]): Sample[][] {
  const out: Sample[][] = [];
  for (const s of samples) (out[Math.floor(s.elapsedS / 600)] ??= []).push(s);
  return out.filter(Boolean);
}

/** `--summarize <csv>`: the per-series summary of an earlier run's samples. */
async function summarizeCsv(file: string): Promise<void> {
  const [head, ...lines] = (await readFile(file, "utf8")).trim().split("\n");
  const keys = head!.split(",");
  const samples = lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [keys[i], i === 0 ? v : Number(v)])) as unknown as Sample);
  const keysToSummarize: (keyof Sample)[] = ["rssMiB", "heapUsedMiB", "heapTotalMiB", "fds", "pgConnections", "eventLoopLagP99Ms"];
  console.log(JSON.stringify(Object.fromEntries(keysToSummarize.map((k) => [k, summarizeSeries(samples, k)])), null, 2));
}

async function main(): Promise<void> {
  let ferry: BenchFerry | null = null;
  let reg: TestRegistry | null = null;
  let proxy: FaultProxy | null = null;
  const abort = new AbortController();
  const cleanup = async () => {
    abort.abort();
    await ferry?.close().catch(() => {});
    await proxy?.close().catch(() => {});
    await reg?.stop().catch(() => {});
  };
  const stopInterrupt = onInterrupt(cleanup);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const dir = join(import.meta.dirname, "results");
  await mkdir(dir, { recursive: true });
  const base = join(dir, `soak-${stamp}`);
  const samples: Sample[] = [];
  try {
    reg = await startRegistry();
    await fillRegistry(reg, [
      ...Array.from({ length: PERIODIC_REPOS }, (_, i) => makeImage(`periodic/app-${pad(i, 2)}`, [randomBytes(32_768), randomBytes(4096)])),
      ...Array.from({ length: ONDEMAND_REPOS }, (_, i) => makeImage(`ondemand/app-${pad(i, 3)}`, [randomBytes(16_384 + (i % 7) * 8192), randomBytes(2048)])),
    ]);
    proxy = await startFaultProxy(reg.url, {
      seed: 11,
      rates: { error: 0.03, "429": 0.01, "reset-before": 0.02, "reset-mid": 0.01 },
      retryAfterSeconds: 1,
    });
    ferry = await startBenchFerry();
    const f = ferry;
    const pid = f.child.pid!;
    const common = { urls: [proxy.url], tlsVerify: false, maxRetries: 3, retryDelay: "1s", maxRetryDelay: "5s" };
    await api(f, "POST", "/registries", { ...common, name: "periodic", pollInterval: "30s", content: [{ prefix: "periodic/**" }] });
    await api(f, "POST", "/registries", { ...common, name: "ondemand", onDemand: true, manifestCheckInterval: "60s", content: [{ prefix: "ondemand/**" }] });
    console.log(`soak: ${MINUTES} min, Ferry pid ${pid} at ${f.url}, upstream ${reg.url} via ${proxy.url}; results ${base}.{csv,json}`);

    const t0 = Date.now();
    const end = t0 + MINUTES * 60_000;
    const signal = abort.signal;
    const running = () => !signal.aborted && Date.now() < end;
    /** Sleeps at most until the end of the run. */
    const pause = (ms: number) => sleep(Math.max(0, Math.min(ms, end - Date.now())));

    const pulls = (async () => {
      for (let i = 0; running(); i++) {
        const repo = i % 2 === 0 ? `periodic/app-${pad((i / 2) % PERIODIC_REPOS, 2)}` : `ondemand/app-${pad(Math.floor(i / 2) % ONDEMAND_REPOS, 3)}`;
        const started = Date.now();
        await pullOnce(f, repo, signal);
        await pause(PULL_EVERY_MS - (Date.now() - started));
      }
    })();

    let inFlight = 0;
    const apiLoad = (async () => {
      for (let i = 0; running(); i++) {
        if (inFlight >= 8) counters.apiSkipped++;
        else {
          inFlight++;
          void apiOnce(f, i).finally(() => inFlight--);
        }
        await pause(1000 / API_RPS);
      }
    })();

    const updates = (async () => {
      for (let round = 0; running(); round++) {
        await pause(120_000);
        if (!running()) break;
        const imgs = [0, 1, 2].map((k) => makeImage(`periodic/app-${pad((round * 3 + k) % PERIODIC_REPOS, 2)}`, [randomBytes(32_768), randomBytes(4096)]));
        await fillRegistry(reg!, imgs);
        counters.updates += imgs.length;
      }
    })();

    for (;;) {
      drainProxy(proxy);
      const s = await sample(f, pid, t0);
      samples.push(s);
      console.log(
        `${s.t} +${s.elapsedS}s rss=${s.rssMiB}MiB heap=${s.heapUsedMiB}/${s.heapTotalMiB}MiB fds=${s.fds} pg=${s.pgConnections} lag99=${s.eventLoopLagP99Ms}ms tasks q/r/ok/fail=${s.tasksQueued}/${s.tasksRunning}/${s.tasksSucceeded}/${s.tasksFailed} pulls ok/fail=${s.pullsOk}/${s.pullsFailed} api ok/fail=${s.apiOk}/${s.apiFailed} faults=${s.faultsInjected}/${s.upstreamRequests} load1=${s.load1}`,
      );
      await writeFile(`${base}.csv`, [Object.keys(samples[0]!).join(","), ...samples.map((x) => Object.values(x).join(","))].join("\n") + "\n");
      if (f.child.exitCode !== null || f.child.signalCode !== null) throw new Error(`Ferry exited (${f.child.exitCode ?? f.child.signalCode})`);
      if (!running()) break;
      await pause(SAMPLE_MS);
    }
    await Promise.all([pulls, apiLoad, updates]);
    while (inFlight > 0) await sleep(100);
    drainProxy(proxy);

    const summary = {
      command: `npx tsx bench/soak.ts --minutes ${MINUTES} --sample-seconds ${SAMPLE_MS / 1000} --pull-every-ms ${PULL_EVERY_MS} --api-rps ${API_RPS}`,
      started: new Date(t0).toISOString(),
      ended: new Date().toISOString(),
      minutes: round((Date.now() - t0) / 60_000),
      samples: samples.length,
      rssMiB: summarizeSeries(samples, "rssMiB"),
      heapUsedMiB: summarizeSeries(samples, "heapUsedMiB"),
      fds: summarizeSeries(samples, "fds"),
      pgConnections: summarizeSeries(samples, "pgConnections"),
      eventLoopLagP99Ms: summarizeSeries(samples, "eventLoopLagP99Ms"),
      counters,
      tasksAtEnd: samples.at(-1),
      ferryAlive: f.child.exitCode === null && f.child.signalCode === null,
    };
    await writeFile(`${base}.json`, JSON.stringify(summary, null, 2) + "\n");
    await writeFile(`${base}.log`, f.output());
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    stopInterrupt();
    if (ferry) await writeFile(`${base}.log`, ferry.output()).catch(() => {});
    await cleanup();
  }
}

(values.summarize ? summarizeCsv(values.summarize) : main()).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
