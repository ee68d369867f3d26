/**
 * /v2 serving speed (issue 9): Ferry's pull API vs Debian's docker-registry, same content.
 *
 *   npx tsx bench/v2-serve.ts [--small 1000] [--small-kib 16] [--big-mib 256] [--parallel 8] [--runs 3]
 *                             [--manifest-requests 2000] [--manifest-rounds 4]
 *
 * Content: one image `bench/big` (a 256 MiB layer) and one `bench/small` (1,000 layers of 16 KiB),
 * random bytes. (a) Ferry: written into an FsStore through its staging API (stage, writeBlob,
 * writeManifest, tag, commitAll), served by a real Ferry (`node --import tsx server.ts
 * --no-build`, own embedded Postgres); the docker-registry below is configured in Ferry as an
 * on-demand upstream mapping `bench/**` with manifestCheckInterval 1h, and tag_sync_state says the
 * tags were checked just now, so manifest GETs take the full "mirrored tag, check not due" path
 * (one registry lookup + one tag_sync_state query) rather than a bare store read; `plain/tiny`,
 * outside the rules, measures the bare store read for comparison.
 * (b) docker-registry 2.8: the same blobs and manifests written into its filesystem layout (what a
 * push leaves behind).
 * Throughput: `--parallel` curl processes (keep-alive, one config file each): the 1,000 small blobs
 * split between them, and each of them fetching the whole big blob. One warm-up, then `--runs`
 * runs, servers interleaved; median reported. Everything is in the page cache for both.
 * Manifest latency: undici, `--manifest-requests` sequential GETs, then the same number spread
 * over `--parallel` concurrent clients; p50/p95/p99. Every target is warmed up first (500
 * sequential + 500 parallel GETs, not counted), then measured in `--manifest-rounds` slices with
 * the targets' order rotating each round (see `manifestLatency`).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { FsStore } from "../lib/store";
import { startRegistry, type TestRegistry } from "../test/helpers/registry";
import { startBenchFerry, type BenchFerry } from "./ferry-server";
import { fmt, onInterrupt, summarize } from "./harness";
import { bigBuffer, fillRegistry, makeImage, MT, sha256, type Image } from "./registry-content";

const { values } = parseArgs({
  options: {
    small: { type: "string", default: "1000" },
    "small-kib": { type: "string", default: "16" },
    "big-mib": { type: "string", default: "256" },
    parallel: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    "manifest-requests": { type: "string", default: "2000" },
    "manifest-rounds": { type: "string", default: "4" },
  },
});
const SMALL = Number(values.small);
const SMALL_BYTES = Number(values["small-kib"]) * 1024;
const BIG_BYTES = Number(values["big-mib"]) * 1024 * 1024;
const PARALLEL = Number(values.parallel);
const RUNS = Number(values.runs);
const MANIFEST_REQUESTS = Number(values["manifest-requests"]);
const MANIFEST_ROUNDS = Math.max(1, Number(values["manifest-rounds"]));
const MiB = 1024 * 1024;

async function fillFerryStore(root: string, images: Image[]): Promise<void> {
  const store = await FsStore.open(root, { fsync: false });
  for (const img of images) {
    const staging = await store.stage(img.repo);
    try {
      for (const b of [img.config, ...img.layers]) await staging.writeBlob(b.digest, b.bytes.length, Readable.from([b.bytes]));
      const digest = await staging.writeManifest(img.manifest.bytes, { mediaType: MT.manifest });
      if (digest !== img.manifest.digest) throw new Error(`store computed ${digest}, expected ${img.manifest.digest}`);
      staging.tag("latest", digest);
      await store.commitAll(img.repo, staging);
    } finally {
      await store.cleanupImage(staging);
    }
  }
}

/** Ferry: the registry as an on-demand upstream for bench/**, its tags checked just now. */
async function configureMirror(ferry: BenchFerry, reg: TestRegistry, images: Image[]): Promise<void> {
  const res = await fetch(`${ferry.url}/api/v1/registries`, {
    method: "POST",
    headers: { authorization: ferry.auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "upstream", urls: [reg.url], onDemand: true, manifestCheckInterval: "1h", content: [{ prefix: "bench/**" }] }),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`creating the registry: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  for (const img of images) {
    await ferry.db.$executeRawUnsafe(
      `INSERT INTO tag_sync_state (registry_id, repository, tag, upstream_repo, digest, upstream_digest, status, last_checked_at, last_synced_at)
       VALUES ($1::uuid, $2, 'latest', $2, $3, $3, 'synced', now(), now())`,
      id,
      img.repo,
      img.manifest.digest,
    );
  }
}

function runCurl(cfg: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-sS", "--fail", "-K", cfg], { timeout: 300_000 }, (err, _out, stderr) => (err ? reject(new Error(`curl: ${stderr || String(err)}`)) : resolve())),
  );
}

/** `lists[i]` are the URLs of client i; resolves with the wall time in seconds. */
async function curlClients(dir: string, lists: string[][]): Promise<number> {
  const cfgs: string[] = [];
  for (const [i, urls] of lists.entries()) {
    const cfg = join(dir, `curl-${i}.cfg`);
    await writeFile(cfg, urls.map((u) => `url = "${u}"\noutput = "/dev/null"\n`).join(""));
    cfgs.push(cfg);
  }
  const t0 = performance.now();
  await Promise.all(cfgs.map(runCurl));
  return (performance.now() - t0) / 1000;
}

/** Manifest GETs of `repo:latest` over one keep-alive pool of `PARALLEL` connections. */
function manifestClient(base: string, repo: string) {
  const pool = new Pool(base, { connections: PARALLEL, pipelining: 1 });
  const path = `/v2/${repo}/manifests/latest`;
  const one = async (): Promise<number> => {
    const t0 = performance.now();
    const r = await pool.request({ method: "GET", path, headers: { accept: MT.manifest } });
    await r.body.arrayBuffer();
    if (r.statusCode !== 200) throw new Error(`${base}${path}: ${r.statusCode}`);
    return performance.now() - t0;
  };
  return {
    async sequential(n: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await one());
      return out;
    },
    async parallel(n: number): Promise<number[]> {
      const out: number[] = [];
      let left = n;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (left-- > 0) out.push(await one());
        }),
      );
      return out;
    },
    close: () => pool.close(),
  };
}

/**
 * Every target is warmed up (connections, JIT, caches) before any is measured, then the
 * `MANIFEST_REQUESTS` of each mode are taken in `MANIFEST_ROUNDS` slices, the targets' order
 * rotating every round, so no target is always the one measured right after the blob runs (GC of
 * their garbage) or at a busier moment of a shared machine.
 */
async function manifestLatency(
  targets: Array<{ url: string; repo: string; pid?: number | undefined }>,
): Promise<Array<{ seq: number[]; par: number[]; roundP95: number[]; roundCpuUs: number[]; roundBusy: number[]; cpuMs: number }>> {
  const clients = targets.map((t) => manifestClient(t.url, t.repo));
  try {
    const warmup = Math.min(500, MANIFEST_REQUESTS);
    for (const c of clients) {
      await c.sequential(warmup);
      await c.parallel(warmup);
    }
    const out = targets.map(() => ({ seq: [] as number[], par: [] as number[], roundP95: [] as number[], roundCpuUs: [] as number[], roundBusy: [] as number[], cpuMs: 0 }));
    for (let round = 0; round < MANIFEST_ROUNDS; round++) {
      const n = Math.floor(MANIFEST_REQUESTS / MANIFEST_ROUNDS) + (round < MANIFEST_REQUESTS % MANIFEST_ROUNDS ? 1 : 0);
      for (let k = 0; k < clients.length; k++) {
        const i = (round + k) % clients.length;
        const pid = targets[i]!.pid;
        const cpu0 = pid ? await cpuMs(pid) : 0;
        const machine0 = await machineCpu();
        out[i]!.seq.push(...(await clients[i]!.sequential(n)));
        const par = await clients[i]!.parallel(n);
        if (pid) {
          const used = (await cpuMs(pid)) - cpu0;
          out[i]!.cpuMs += used;
          out[i]!.roundCpuUs.push((used / (2 * n)) * 1000);
        }
        const machine1 = await machineCpu();
        out[i]!.par.push(...par);
        out[i]!.roundP95.push(summarize(par).p95);
        out[i]!.roundBusy.push((machine1.busy - machine0.busy) / (machine1.total - machine0.total));
      }
    }
    return out;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** Busy and total CPU time of the whole machine so far (/proc/stat; busy excludes idle and iowait). */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const ticks = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/** User + system CPU time of a process and all its threads so far (Linux /proc; 10 ms ticks). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function checkContent(base: string, img: Image): Promise<void> {
  const b = img.layers[0]!;
  const r = await fetch(`${base}/v2/${img.repo}/blobs/${b.digest}`);
  const got = sha256(Buffer.from(await r.arrayBuffer()));
  if (r.status !== 200 || got !== b.digest) throw new Error(`${base} served ${r.status} ${got} for ${b.digest}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "ferry-bench-v2-"));
  let ferry: BenchFerry | null = null;
  let reg: TestRegistry | null = null;
  const cleanup = async () => {
    await ferry?.close().catch(() => {});
    await reg?.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  };
  const stopInterrupt = onInterrupt(cleanup);
  try {
    console.log(`content: ${SMALL} × ${SMALL_BYTES / 1024} KiB + 1 × ${BIG_BYTES / MiB} MiB; ${PARALLEL} parallel clients`);
    const big = makeImage("bench/big", [bigBuffer(BIG_BYTES)]);
    const small = makeImage(
      "bench/small",
      Array.from({ length: SMALL }, () => randomBytes(SMALL_BYTES)),
    );
    // Outside the upstream's content rules: its manifest GETs are a bare store read (no registry
    // lookup, no tag_sync_state query), to split the manifest latency into store and check.
    const plain = makeImage("plain/tiny", [randomBytes(4096)]);
    const images = [big, small, plain];
    reg = await startRegistry();
    await fillRegistry(reg, images);
    const registry = reg;
    ferry = await startBenchFerry({ prepareStore: (root) => fillFerryStore(root, images) });
    await configureMirror(ferry, registry, [big, small]);
    const servers = [
      { name: "ferry", url: ferry.url },
      { name: "docker-registry", url: registry.url },
    ];
    for (const s of servers) for (const img of images) await checkContent(s.url, img);

    const smallLists = (base: string) => {
      const lists: string[][] = Array.from({ length: PARALLEL }, () => []);
      small.layers.forEach((b, i) => lists[i % PARALLEL]!.push(`${base}/v2/${small.repo}/blobs/${b.digest}`));
      return lists;
    };
    const bigLists = (base: string) => Array.from({ length: PARALLEL }, () => [`${base}/v2/${big.repo}/blobs/${big.layers[0]!.digest}`]);
    const workloads = [
      { name: `${SMALL} × ${SMALL_BYTES / 1024} KiB`, lists: smallLists, bytes: SMALL * SMALL_BYTES },
      { name: `${PARALLEL} × the ${BIG_BYTES / MiB} MiB blob`, lists: bigLists, bytes: PARALLEL * BIG_BYTES },
    ];
    const times = new Map<string, number[]>();
    for (let run = 0; run <= RUNS; run++) {
      for (const w of workloads) {
        for (const s of run % 2 === 0 ? servers : [...servers].reverse()) {
          const t = await curlClients(work, w.lists(s.url));
          if (run === 0) continue; // warm-up: page cache, connections, JIT
          const key = `${w.name}|${s.name}`;
          times.set(key, [...(times.get(key) ?? []), t]);
          console.log(`run ${run} ${w.name.padEnd(22)} ${s.name.padEnd(16)} ${t.toFixed(3)} s  ${(w.bytes / MiB / t).toFixed(0)} MiB/s`);
        }
      }
    }
    console.log("\n| workload | Ferry MiB/s | docker-registry MiB/s | Ferry / registry | requests/s Ferry | requests/s registry |\n|---|---:|---:|---:|---:|---:|");
    for (const w of workloads) {
      const f = median(times.get(`${w.name}|ferry`)!);
      const r = median(times.get(`${w.name}|docker-registry`)!);
      const reqs = w.lists("").flat().length;
      console.log(
        `| ${w.name} | ${(w.bytes / MiB / f).toFixed(0)} | ${(w.bytes / MiB / r).toFixed(0)} | ${((r / f) * 100).toFixed(0)}% | ${(reqs / f).toFixed(0)} | ${(reqs / r).toFixed(0)} |`,
      );
    }

    console.log(`\nmanifest GET ${big.repo}:latest (${big.manifest.bytes.length} bytes), ${MANIFEST_REQUESTS} sequential, then ${MANIFEST_REQUESTS} over ${PARALLEL} clients`);
    const targets = [
      { label: "ferry, mirrored tag (check not due)", url: ferry.url, repo: big.repo, pid: ferry.child.pid },
      { label: "ferry, unmapped repo (store only)", url: ferry.url, repo: plain.repo, pid: ferry.child.pid },
      { label: "docker-registry", url: registry.url, repo: big.repo },
    ];
    const load0 = loadavg();
    const results = await manifestLatency(targets);
    console.log(`load average (1/5/15 min) before ${load0.map((x) => x.toFixed(2)).join(" ")}, after ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    for (const [i, t] of targets.entries()) {
      const { seq, par, roundP95, roundCpuUs, roundBusy, cpuMs: cpu } = results[i]!;
      console.log(`${t.label.padEnd(38)} sequential ${fmt(summarize(seq))}`);
      console.log(`${t.label.padEnd(38)} ${PARALLEL} parallel ${fmt(summarize(par))}  (p95 per round: ${roundP95.map((x) => x.toFixed(2)).join(" ")})`);
      console.log(`${t.label.padEnd(38)} machine CPU busy per round: ${roundBusy.map((x) => `${(x * 100).toFixed(0)}%`).join(" ")}`);
      if (t.pid) {
        const perRound = roundCpuUs.map((x) => x.toFixed(0)).join(" ");
        console.log(`${t.label.padEnd(38)} server CPU ${((cpu / (seq.length + par.length)) * 1000).toFixed(0)} µs per GET (user+sys, all threads; per round: ${perRound})`);
      }
    }
  } finally {
    stopInterrupt();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
