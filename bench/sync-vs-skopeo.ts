/**
 * lib/sync benchmark against `skopeo sync` and `curl` (run by hand: `npx tsx bench/sync-vs-skopeo.ts`).
 * Loopback only; every temp dir and child process is removed at the end (or on Ctrl-C).
 *
 * 1. Starts a docker-registry and pushes a generated catalog over the HTTP API, 16 requests at a
 *    time: 40 repositories × 5 tags; every 5th repository multi-arch (amd64 + arm64 index); four
 *    families of base layers (4 MiB + 2 MiB per arch) shared across repositories by cross-repo
 *    mount; one own 1.25 MiB layer and config per image. About 360 MiB of distinct blobs.
 * 2. Ferry: createSyncService + FsStore (temp dir) + MemoryTagState, in a child process (so its
 *    peak RSS is its own), rounds driven like the scheduler: getNextRepo over a shared cursor,
 *    BENCH_REPOS (default 4) repositories in parallel. A first round into an empty store, then a
 *    second with nothing changed.
 * 3. `skopeo sync --all --src yaml --dest dir` over the same repositories. skopeo refuses to
 *    overwrite an existing image directory, so its second run starts from an empty directory.
 * 4. `curl` fetching every distinct blob once into files, 8 transfers at a time (xargs -P8).
 * Steps 2-4 repeat BENCH_FERRY_RUNS times (default 1), interleaved, and the verdicts use the
 * median of the per-iteration ratios; skopeo's second run is measured once at the end.
 *
 * Targets (issue 5): Ferry first run ≤ 1/4 of skopeo's, ≤ 2× curl; second run ≤ 1/10 of
 * skopeo's second run; peak RSS < 300 MiB.
 *
 * Knobs for profiling (all optional):
 * - BENCH_ONLY=ferry            skip skopeo and curl.
 * - BENCH_FERRY_RUNS=N          run the Ferry child N times (fresh store each), report the median.
 * - BENCH_FERRY_ROOTS=a,b       checkouts whose lib/ the child uses (A/B: `git archive` of an older
 *                               commit with node_modules linked); runs are interleaved a,b,a,b.
 * - BENCH_COUNT=1               a counting proxy (test/helpers/upstream-proxy.ts) in front of the
 *                               registry: requests per tag by endpoint, per round. It costs CPU, so
 *                               its wall times are not comparable with runs without it.
 * - BENCH_CPU_PROF=dir          `--cpu-prof` for the Ferry child (open the .cpuprofile in DevTools).
 * - BENCH_STRACE=file           the Ferry child under `strace -f -c` (syscall counts, both rounds;
 *                               slows it down a lot, so its times mean nothing).
 * Every Ferry run also reports its own CPU time and the registry's (from /proc), so a run can be
 * split into "busy" and "waiting" even on a shared machine.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { openStore } from "../lib/store";
import { createSyncService, MemoryTagState, type SyncService } from "../lib/sync";
import { startRegistry, type TestRegistry } from "../test/helpers/registry";
import { startUpstreamProxy } from "../test/helpers/upstream-proxy";

const MiB = 1024 * 1024;
const REPOS = 40;
const TAGS = 5;
const REPO_PARALLEL = Number(process.env.BENCH_REPOS ?? 4);
const CHILD_TIMEOUT_MS = 10 * 60_000;
const MT = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
};

interface Blob {
  digest: string;
  size: number;
  /** A repository that holds it (for curl and cross-repo mounts). */
  repo: string;
}

// ---------------------------------------------------------------- catalog generation

class Pusher {
  readonly pool: Pool;
  readonly blobs = new Map<string, Blob>();
  constructor(readonly url: string) {
    this.pool = new Pool(url, { connections: 16 });
  }

  private async req(method: "POST" | "PUT", p: string, body?: Buffer, contentType?: string): Promise<{ status: number; location: string | undefined }> {
    const res = await this.pool.request({
      path: p,
      method,
      headers: { "content-type": contentType ?? "application/octet-stream", "content-length": String(body?.length ?? 0) },
      ...(body ? { body } : {}),
    });
    await res.body.text();
    const loc = res.headers.location;
    return { status: res.statusCode, location: Array.isArray(loc) ? loc[0] : loc };
  }

  async blob(repo: string, data: Buffer): Promise<Blob> {
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    const known = this.blobs.get(digest);
    if (known) {
      const m = await this.req("POST", `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${known.repo}`);
      if (m.status === 201) return { ...known };
    }
    const start = await this.req("POST", `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202 || !start.location) throw new Error(`upload start ${repo}: ${start.status}`);
    const loc = new URL(start.location, this.url);
    loc.searchParams.set("digest", digest);
    const put = await this.req("PUT", loc.pathname + loc.search, data);
    if (put.status !== 201) throw new Error(`upload ${repo} ${digest}: ${put.status}`);
    const b = { digest, size: data.length, repo };
    if (!known) this.blobs.set(digest, b);
    return b;
  }

  async manifest(repo: string, ref: string, doc: unknown, mediaType: string): Promise<{ digest: string; size: number }> {
    const bytes = Buffer.from(JSON.stringify(doc));
    const r = await this.req("PUT", `/v2/${repo}/manifests/${ref}`, bytes, mediaType);
    if (r.status !== 201) throw new Error(`manifest ${repo}:${ref}: ${r.status}`);
    return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length };
  }
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

async function generate(reg: TestRegistry): Promise<{ repos: string[]; blobs: Blob[]; images: number }> {
  const p = new Pusher(reg.url);
  try {
    // Base layer contents per family and arch; pushed (then mounted) like any other layer.
    const bases = new Map<string, Buffer[]>();
    for (let f = 0; f < 4; f++) for (const arch of ["amd64", "arm64"]) bases.set(`${f}/${arch}`, [randomBytes(4 * MiB), randomBytes(2 * MiB)]);
    const repos = Array.from({ length: REPOS }, (_, i) => `bench/team${i % 5}/app${String(i).padStart(2, "0")}`);
    let images = 0;
    // The first repository of each family pushes the base layers so that the others can mount them.
    const seedFirst = [...repos.slice(0, 4), ...repos.slice(4)];
    const pushImage = async (repo: string, family: number, arch: string) => {
      const own = randomBytes(1.25 * MiB);
      const layers = [...bases.get(`${family}/${arch}`)!, own];
      const config = Buffer.from(JSON.stringify({ architecture: arch, os: "linux", created: new Date().toISOString(), rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${createHash("sha256").update(l).digest("hex")}`) } }));
      const cfg = await p.blob(repo, config);
      const ls: Blob[] = [];
      for (const l of layers) ls.push(await p.blob(repo, l));
      images++;
      const doc = {
        schemaVersion: 2,
        mediaType: MT.manifest,
        config: { mediaType: MT.config, digest: cfg.digest, size: cfg.size },
        layers: ls.map((l) => ({ mediaType: MT.layer, digest: l.digest, size: l.size })),
      };
      return doc;
    };
    const pushRepo = async (repo: string) => {
      const i = repos.indexOf(repo);
      const family = i % 4;
      const multi = i % 5 === 0;
      for (let t = 0; t < TAGS; t++) {
        const tag = `1.${t}.0`;
        if (!multi) {
          await p.manifest(repo, tag, await pushImage(repo, family, "amd64"), MT.manifest);
          continue;
        }
        const children = [];
        for (const arch of ["amd64", "arm64"]) {
          const doc = await pushImage(repo, family, arch);
          const m = await p.manifest(repo, `sha256:${createHash("sha256").update(JSON.stringify(doc)).digest("hex")}`, doc, MT.manifest);
          children.push({ mediaType: MT.manifest, digest: m.digest, size: m.size, platform: { os: "linux", architecture: arch } });
        }
        await p.manifest(repo, tag, { schemaVersion: 2, mediaType: MT.index, manifests: children }, MT.index);
      }
    };
    await mapLimit(seedFirst.slice(0, 4), 4, pushRepo);
    await mapLimit(seedFirst.slice(4), 16, pushRepo);
    return { repos, blobs: [...p.blobs.values()], images };
  } finally {
    await p.pool.close();
  }
}

// ---------------------------------------------------------------- Ferry (child process)

interface RoundResult {
  ms: number;
  /** CPU time of the Ferry process during the round (user + system). */
  cpuMs: number;
  synced: number;
  unchanged: number;
  failed: number;
  bytes: number;
}

async function ferryRound(svc: SyncService): Promise<RoundResult> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let cursor = "";
  let done = false;
  let chain = Promise.resolve("");
  // One cursor shared by the workers, advanced one call at a time (as the TaskGenerator does).
  const next = () => (chain = chain.then(async () => {
    if (done) return "";
    const r = await svc.getNextRepo(cursor);
    if (r === "") done = true;
    else cursor = r;
    return r;
  }));
  const totals = { synced: 0, unchanged: 0, failed: 0, bytes: 0 };
  const ctx = { signal: AbortSignal.timeout(CHILD_TIMEOUT_MS) };
  await Promise.all(
    Array.from({ length: REPO_PARALLEL }, async () => {
      for (let repo = await next(); repo !== ""; repo = await next()) {
        const r = await svc.syncRepo(ctx, repo);
        totals.bytes += r.bytesCopied;
        for (const o of r.outcomes) {
          if (o.status === "synced") totals.synced++;
          else if (o.status === "unchanged") totals.unchanged++;
          else if (o.status === "failed") {
            totals.failed++;
            console.error(`failed ${repo}:${o.tag}: ${o.code} ${o.message}`);
          }
        }
      }
    }),
  );
  svc.resetCatalog();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, ...totals };
}

async function ferryChild(url: string, storeDir: string): Promise<void> {
  const store = await openStore(storeDir, { fsync: false });
  const maxConcurrentRequests = Number(process.env.BENCH_MAX_REQUESTS ?? 8);
  const svc = createSyncService({ name: "bench", urls: [url], maxConcurrentRequests, content: [{ prefix: "bench/**" }] }, { store, tagState: new MemoryTagState() });
  try {
    const first = await ferryRound(svc);
    if (process.env.BENCH_COUNT) {
      // Tells the parent to snapshot the proxy's counts between the rounds.
      process.stdout.write(JSON.stringify({ roundDone: 1 }) + "\n");
      await new Promise((r) => setTimeout(r, 300));
    }
    const second = await ferryRound(svc);
    const maxRssKiB = process.resourceUsage().maxRSS;
    process.stdout.write(JSON.stringify({ first, second, maxRssKiB }) + "\n");
  } finally {
    await svc.close();
  }
}

// ---------------------------------------------------------------- helpers

interface FerryRun {
  first: RoundResult;
  second: RoundResult;
  maxRssKiB: number;
  registryCpuMs?: number;
}

/** The docker-registry serving `root` (its config file lives there), for its CPU time. */
async function findRegistryPid(root: string): Promise<number | undefined> {
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(root) && cmd.includes("serve")) return Number(pid);
  }
  return undefined;
}

/** utime + stime of a process in ms (NaN when unknown). */
async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Proxy hits grouped by endpoint, divided by the number of tags. */
function describeCounts(hits: Map<string, number>, tags: number): string {
  const groups = new Map<string, number>();
  for (const [key, n] of hits) {
    const [method, p = ""] = key.split(" ");
    let kind = "other";
    const ref = p.match(/\/manifests\/(.+)$/)?.[1];
    if (ref !== undefined) {
      if (/^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/.test(ref)) kind = "manifest cosign tag";
      else if (/^sha256-[0-9a-f]{64}$/.test(ref)) kind = "manifest referrers fallback tag";
      else if (ref.startsWith("sha256:")) kind = "manifest by digest";
      else kind = "manifest by tag";
    } else if (p.includes("/blobs/")) kind = "blob";
    else if (p.includes("/referrers/")) kind = "referrers API";
    else if (p.endsWith("/tags/list")) kind = "tags list";
    else if (p.endsWith("/_catalog")) kind = "catalog";
    const k = `${method} ${kind}`;
    groups.set(k, (groups.get(k) ?? 0) + n);
  }
  let total = 0;
  const parts = [...groups].sort((a, b) => b[1] - a[1]).map(([k, n]) => {
    total += n;
    return `${k} ${(n / tags).toFixed(2)}`;
  });
  return `total ${(total / tags).toFixed(2)} (${total}): ${parts.join(", ")}`;
}

const children = new Set<ReturnType<typeof spawn>>();

function run(cmd: string, args: string[], opts: { input?: string; onLine?: (line: string) => void } = {}): Promise<{ ms: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      const before = stdout.length;
      stdout += d.toString();
      if (opts.onLine) for (const line of stdout.slice(stdout.lastIndexOf("\n", before - 1) + 1).split("\n").slice(0, -1)) opts.onLine(line);
    });
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, stdout, stderr });
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(" ")}… exited ${code ?? signal}: ${stderr.slice(-2000)}`));
    });
    child.stdin.on("error", () => undefined); // a child that exits before reading (mkdir) closes the pipe
    child.stdin.end(opts.input ?? "");
  });
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ratio = (a: number, b: number) => (a / b).toFixed(3);

async function main(): Promise<void> {
  const temps: string[] = [];
  let reg: TestRegistry | undefined;
  const cleanup = async () => {
    for (const c of children) c.kill("SIGKILL");
    await reg?.stop().catch(() => undefined);
    for (const t of temps) await rm(t, { recursive: true, force: true }).catch(() => undefined);
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    reg = await startRegistry({ catalogMaxEntries: 1000 });
    const work = await mkdtemp(path.join(os.tmpdir(), "ferry-bench-sync-"));
    temps.push(work);
    const g0 = performance.now();
    const cat = await generate(reg);
    const genMs = performance.now() - g0;
    const distinct = cat.blobs.reduce((n, b) => n + b.size, 0);
    console.log(`catalog: ${cat.repos.length} repositories × ${TAGS} tags, ${cat.images} image manifests, ${cat.blobs.length} distinct blobs, ${(distinct / MiB).toFixed(1)} MiB; generated in ${fmt(genMs)}`);

    // Each iteration runs Ferry (every root), then skopeo's first run and curl, so that the
    // ratios compare neighbouring runs on a machine whose load drifts.
    const roots = (process.env.BENCH_FERRY_ROOTS ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")).split(",");
    const runs = Number(process.env.BENCH_FERRY_RUNS ?? 1);
    const ferryOnly = process.env.BENCH_ONLY === "ferry";
    const proxy = process.env.BENCH_COUNT ? await startUpstreamProxy(reg.url) : undefined;
    const registryPid = await findRegistryPid(reg.root);
    const byRoot = new Map<string, FerryRun[]>(roots.map((r) => [r, []]));
    const yamlFile = path.join(work, "skopeo.yaml");
    const yaml = [`${reg.host}:`, "  tls-verify: false", "  images:", ...cat.repos.map((r) => `    ${r}: []`)].join("\n") + "\n";
    await writeFile(yamlFile, yaml);
    const skopeoDir = path.join(work, "skopeo-dir");
    const skopeoArgs = ["sync", "--all", "--src", "yaml", "--dest", "dir", "--src-tls-verify=false", yamlFile, skopeoDir];
    const curlDir = path.join(work, "curl");
    const curlList = cat.blobs.map((b) => `${path.join(curlDir, b.digest.slice(7))} ${reg!.url}/v2/${b.repo}/blobs/${b.digest}`).join("\n") + "\n";
    const skopeoMs: number[] = [];
    const curlMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const root of roots) {
        const storeDir = path.join(work, `ferry-store-${i}-${roots.indexOf(root)}`);
        const prof = process.env.BENCH_CPU_PROF ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
        let firstCounts: Map<string, number> | undefined;
        proxy?.reset();
        // Flush what the previous tool wrote (skopeo writes ~1.8 GB per run): otherwise its
        // writeback lands in the next tool's run and is billed to it.
        await run("sync", []);
        const regCpu0 = await processCpuMs(registryPid);
        const nodeArgs = [...prof, ...process.execArgv, path.join(root, "bench/sync-vs-skopeo.ts"), "--ferry-child", proxy?.url ?? reg.url, storeDir];
        const strace = process.env.BENCH_STRACE ? ["-f", "-c", "-o", `${process.env.BENCH_STRACE}.${path.basename(root)}.${i}`, process.execPath] : undefined;
        const f = await run(strace ? "strace" : process.execPath, strace ? [...strace, ...nodeArgs] : nodeArgs, {
          onLine: (line) => {
            if (proxy && line.includes('"roundDone"')) {
              firstCounts = new Map(proxy.hits);
              proxy.reset();
            }
          },
        });
        const regCpuMs = (await processCpuMs(registryPid)) - regCpu0;
        const r = JSON.parse(f.stdout.trim().split("\n").pop() ?? "{}") as FerryRun;
        r.registryCpuMs = regCpuMs;
        byRoot.get(root)!.push(r);
        const tag = roots.length > 1 ? `[${path.basename(root)}] ` : "";
        console.log(
          `${tag}ferry first ${fmt(r.first.ms)} (cpu ${fmt(r.first.cpuMs)}; ${r.first.synced} synced, ${r.first.failed} failed, ${(r.first.bytes / MiB).toFixed(1)} MiB), ` +
            `second ${fmt(r.second.ms)} (cpu ${fmt(r.second.cpuMs)}; ${r.second.unchanged} unchanged), registry cpu (both rounds) ${fmt(regCpuMs)}, peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB, load ${os.loadavg()[0]!.toFixed(2)}`,
        );
        if (proxy && firstCounts) {
          const tags = r.first.synced + r.first.unchanged + r.first.failed;
          console.log(`  requests per tag, first round:  ${describeCounts(firstCounts, tags)}`);
          console.log(`  requests per tag, second round: ${describeCounts(proxy.hits, tags)}`);
        }
        await rm(storeDir, { recursive: true, force: true });
      }
      if (ferryOnly) continue;
      await run("sync", []);
      const s1 = await run("/usr/bin/skopeo", skopeoArgs);
      skopeoMs.push(s1.ms);
      await rm(skopeoDir, { recursive: true, force: true });
      await run("mkdir", ["-p", curlDir]);
      await run("sync", []);
      const c = await run("xargs", ["-P8", "-L1", "curl", "-sSf", "-o"], { input: curlList });
      curlMs.push(c.ms);
      await rm(curlDir, { recursive: true, force: true });
      const last = byRoot.get(roots[roots.length - 1]!)![i]!;
      console.log(`skopeo first ${fmt(s1.ms)}, curl -P8 ${fmt(c.ms)} (${cat.blobs.length} blobs); this iteration: ferry/skopeo ${ratio(last.first.ms, s1.ms)}, ferry/curl ${ratio(last.first.ms, c.ms)}, load ${os.loadavg()[0]!.toFixed(2)}`);
    }
    await proxy?.close();
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    for (const [root, rs] of byRoot) {
      if (rs.length > 1) console.log(`${path.basename(root)}: median first ${fmt(med(rs.map((r) => r.first.ms)))}, second ${fmt(med(rs.map((r) => r.second.ms)))} over ${rs.length} runs`);
    }
    if (ferryOnly) return;
    const ferryRuns = byRoot.get(roots[roots.length - 1]!)!;
    const rssMiB = Math.max(...ferryRuns.map((r) => r.maxRssKiB)) / 1024;

    // skopeo sync refuses to write into an existing image directory ("Refusing to overwrite
    // destination directory"), so a scheduled re-run must start from an empty destination: its
    // second run is a full copy again. That is what is measured (once, after the iterations).
    const s2 = await run("/usr/bin/skopeo", skopeoArgs);
    await rm(skopeoDir, { recursive: true, force: true });
    console.log(`skopeo second: ${fmt(s2.ms)}`);

    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    const r1 = med(ferryRuns.map((r, i) => r.first.ms / skopeoMs[i]!));
    const rc = med(ferryRuns.map((r, i) => r.first.ms / curlMs[i]!));
    const r2 = med(ferryRuns.map((r) => r.second.ms)) / s2.ms;
    console.log(`\ntargets (median over ${runs} iteration(s) of the per-iteration ratio):`);
    console.log(`  ferry first / skopeo first  = ${r1.toFixed(3)} (target ≤ 0.25): ${verdict(r1 <= 0.25)}`);
    console.log(`  ferry first / curl          = ${rc.toFixed(3)} (target ≤ 2): ${verdict(rc <= 2)}`);
    console.log(`  ferry second / skopeo second = ${r2.toFixed(3)} (target ≤ 0.1): ${verdict(r2 <= 0.1)}`);
    console.log(`  ferry peak RSS = ${rssMiB.toFixed(0)} MiB (target < 300): ${verdict(rssMiB < 300)}`);
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === "--ferry-child") {
  await ferryChild(process.argv[3]!, process.argv[4]!);
} else {
  await main();
}
