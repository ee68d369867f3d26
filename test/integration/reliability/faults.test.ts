/**
 * Fault suites: Ferry's sync engine and task queue (in this process, on a real Postgres) mirror a
 * real docker-registry through the seeded fault proxy. Each case ends with `store.verify()` and a
 * byte-for-byte comparison of the store with the upstream.
 *
 *  1. 10% error statuses, 5% connection resets (half before, half in the body), 2% truncated
 *     bodies: every image arrives, retries stay within maxRetries and their spacing, and each
 *     retry is in the task's history.
 *  2. A 429 storm: Retry-After is honoured by the whole client (no request starts inside the
 *     window, except ones already on the wire), the request rate drops, the sync completes.
 *  3. Lying Content-Length and stalled bodies: the affected tags fail with a clear code or are
 *     retried; nothing unverified is visible; a clean round afterwards completes.
 *  4. The store's disk fills up (a 12 MiB tmpfs when this machine lets us mount one, else an
 *     injected ENOSPC): tasks fail with STORE_FULL, nothing half-written is visible, and once
 *     space is freed the retried tasks complete.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { failOnStoreFull } from "../../../lib/mirror/task-handler";
import { createLogger } from "../../../lib/observability";
import { enqueue, sqlFromPrisma, WorkerPool, type Sql, type TaskRecord } from "../../../lib/scheduler";
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, MemoryTagState, type RegistryConfigInput } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { mulberry32, peakRate, startFaultProxy, type FaultProxy, type FaultRecord } from "../../helpers/fault-proxy";
import { MT, pushBlob, pushManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { compareStoreWithUpstream } from "../../helpers/store-compare";
import { waitFor } from "../../helpers/wait";

const log = createLogger({ level: "silent" });
const REPOS = ["fx/alpha", "fx/beta", "fx/gamma", "fx/delta", "fx/multi"];
const MAX_RETRIES = 3;
const RETRY_DELAY_MS = 20;

type Service = ReturnType<typeof createSyncService>;

/** Runs one round of `service` as syncRepo tasks on a WorkerPool; returns the final task rows. */
async function runRound(sql: Sql, db: Db, service: Service, trigger: string, opts: { maxAttempts?: number; timeoutMs?: number } = {}): Promise<TaskRecord[]> {
  const ids: string[] = [];
  for (let repo = await service.getNextRepo(""); repo !== ""; repo = await service.getNextRepo(repo)) {
    const { task } = await enqueue(sql, { kind: "syncRepo", registryId: null, repository: repo, priority: 0, trigger, maxAttempts: opts.maxAttempts ?? 1 });
    ids.push(task.id);
  }
  service.resetCatalog();
  const pool = new WorkerPool({
    sql,
    log,
    concurrency: 2,
    leaseMs: 10_000,
    pollMs: 50,
    retryPolicy: () => ({ retryDelayMs: 200, maxRetryDelayMs: 400 }),
    handler: async (task, ctx) => {
      const r = await service.syncRepo(ctx, task.repository);
      failOnStoreFull(r.outcomes); // lib/mirror's rule for task results
      return { outcomes: r.outcomes, bytesCopied: r.bytesCopied, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped };
    },
  });
  pool.start();
  try {
    await waitFor(
      `round ${trigger}`,
      async () => {
        const n = await db.task.count({ where: { id: { in: ids.map(BigInt) }, status: { in: ["succeeded", "failed", "cancelled"] } } });
        return n === ids.length;
      },
      opts.timeoutMs ?? 60_000,
    );
  } finally {
    await pool.stop(5000);
  }
  const rows = await db.task.findMany({ where: { id: { in: ids.map(BigInt) } }, orderBy: { id: "asc" } });
  return rows.map((r) => ({ ...r, id: String(r.id), outcomes: r.outcomes as TaskRecord["outcomes"] }) as unknown as TaskRecord);
}

/** Runs of consecutive faulted requests per method+path. */
function faultRuns(records: readonly FaultRecord[]): Map<string, number[]> {
  const byKey = new Map<string, FaultRecord[]>();
  for (const r of records) {
    const k = `${r.method} ${r.path}`;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const out = new Map<string, number[]>();
  for (const [k, rs] of byKey) {
    const runs: number[] = [];
    let n = 0;
    for (const r of rs) {
      if (r.fault && r.fault !== "latency") n++;
      else {
        if (n) runs.push(n);
        n = 0;
      }
    }
    if (n) runs.push(n);
    out.set(k, runs);
  }
  return out;
}

async function expectStoreMatchesUpstream(store: Store, registryUrl: string, repos: string[]): Promise<void> {
  const v = await store.verify();
  expect({ corrupt: v.corrupt, missing: v.missing, invalid: v.invalid }).toEqual({ corrupt: [], missing: [], invalid: [] });
  expect(v.ok).toBe(true);
  const cmp = await compareStoreWithUpstream(store, registryUrl, repos);
  expect(cmp.problems).toEqual([]);
  expect(cmp.tags).toBeGreaterThan(0);
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe.skipIf(!registryAvailable())("sync through injected faults", () => {
  let registry: TestRegistry;
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let tmp: string;
  const proxies: FaultProxy[] = [];
  const services: Service[] = [];

  function service(proxy: FaultProxy, store: Store, extra: Partial<RegistryConfigInput> = {}): Service {
    const s = createSyncService(
      {
        name: "faulty",
        urls: [proxy.url],
        pollInterval: "1h",
        maxRetries: MAX_RETRIES,
        retryDelay: RETRY_DELAY_MS,
        maxRetryDelay: 200,
        maxConcurrentRequests: 6,
        content: [{ prefix: "fx/**" }],
        ...extra,
      },
      { store, tagState: new MemoryTagState() },
    );
    services.push(s);
    return s;
  }

  async function newStore(name: string): Promise<Store> {
    const dir = path.join(tmp, name);
    await mkdir(dir, { recursive: true });
    return openStore(dir, { fsync: false });
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-faults-"));
    registry = await startRegistry();
    // Deterministic content (seeded bytes, fixed timestamps): the same digests, hence the same
    // paths, every run, so the proxy's seed reproduces the same faults.
    const rng = mulberry32(42);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rng() * 256)));
    const shared = bytes(64 * 1024);
    for (const repo of REPOS.slice(0, 4)) {
      for (const tag of ["1.0", "2.0"]) await pushSeeded(registry, repo, tag, [shared, bytes(96 * 1024), bytes(3000)]);
    }
    const children = [];
    for (const architecture of ["amd64", "arm64"]) children.push(await pushSeeded(registry, "fx/multi", "", [bytes(80 * 1024), bytes(2048)], architecture));
    await pushManifest(registry, "fx/multi", "latest", Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: children })), MT.ociIndex);
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
  }, 120_000);

  afterAll(async () => {
    for (const s of services) await s.close();
    for (const p of proxies) await p.close();
    await db?.$disconnect();
    await tdb?.drop();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("completes a full sync at 10% errors, 5% resets and 2% truncations, retrying within limits", async () => {
    const proxy = await startFaultProxy(registry.url, {
      seed: Number(process.env.FERRY_FAULT_SEED ?? 2),
      rates: { error: 0.1, "reset-before": 0.025, "reset-mid": 0.025, truncate: 0.02 },
    });
    proxies.push(proxy);
    const store = await newStore("full");
    const svc = service(proxy, store);
    const started = Date.now();
    const tasks = await runRound(sql, db, svc, "faults-1");
    expect(Date.now() - started).toBeLessThan(60_000);

    expect(tasks.map((t) => t.repository).sort()).toEqual([...REPOS].sort());
    for (const t of tasks) {
      expect(t.status, `${t.repository}: ${t.errorCode} ${t.errorMessage}`).toBe("succeeded");
      expect(t.outcomes.length).toBeGreaterThan(0);
      for (const o of t.outcomes) expect(o.status, `${t.repository}:${o.tag} ${JSON.stringify(o)}`).toBe("synced");
    }
    await expectStoreMatchesUpstream(store, registry.url, REPOS);

    // Faults really happened, of every kind asked for.
    const c = proxy.counts();
    if (process.env.FERRY_FAULT_SEED) console.log(c, proxy.log.length);
    expect(c.error).toBeGreaterThan(0);
    expect(c["reset-before"] + c["reset-mid"]).toBeGreaterThan(0);
    expect(c.truncate).toBeGreaterThan(0);

    // Retries within the configured limits: no more than maxRetries retries in a row for a
    // document; a blob may in addition resume (Range) up to maxRetries times.
    for (const [key, runs] of faultRuns(proxy.log)) {
      const limit = key.includes("/blobs/") ? (MAX_RETRIES + 1) * (MAX_RETRIES + 1) : MAX_RETRIES;
      for (const run of runs) expect(run, key).toBeLessThanOrEqual(limit);
    }
    // ...and spaced by the backoff (full jitter: at least half of retryDelay) after an error status.
    const byKey = new Map<string, FaultRecord[]>();
    for (const r of proxy.log) byKey.set(`${r.method} ${r.path}`, [...(byKey.get(`${r.method} ${r.path}`) ?? []), r]);
    for (const [key, rs] of byKey) {
      for (let i = 1; i < rs.length; i++) {
        if (rs[i - 1]!.fault === "error") expect(rs[i]!.at - rs[i - 1]!.at, key).toBeGreaterThanOrEqual(RETRY_DELAY_MS / 2 - 2);
      }
    }

    // Task history shows the retries, each numbered within the limit.
    const events = await db.taskEvent.findMany({ where: { taskId: { in: tasks.map((t) => BigInt(t.id)) }, message: { contains: "retrying" } } });
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      const data = e.data as { retry: number; maxRetries: number; code: string };
      expect(data.retry).toBeLessThanOrEqual(MAX_RETRIES);
      expect(["UPSTREAM_5XX", "NETWORK", "TIMEOUT"]).toContain(data.code);
    }
    expect(await listDir(path.join(store.root, "staging"))).toEqual([]);
  });

  it("honours Retry-After during a 429 storm: the client pauses, the rate drops, the sync completes", async () => {
    const proxy = await startFaultProxy(registry.url, { seed: 7, retryAfterSeconds: 1, latencyMs: [0, 300] });
    proxies.push(proxy);
    const store = await newStore("storm");
    const svc = service(proxy, store, { maxRetries: 5, maxRetryDelay: 2000 });
    // Answers take 0-300 ms, so requests are spread out in time. Once blobs are being copied,
    // every request is answered 429 for 2.5 s.
    let stormStart = 0;
    proxy.force = (_method, p) => {
      if (!stormStart && p.includes("/blobs/")) stormStart = Date.now();
      return stormStart && Date.now() - stormStart < 2500 ? "429" : "latency";
    };
    const tasks = await runRound(sql, db, svc, "storm-1");
    for (const t of tasks) {
      expect(t.status, `${t.repository}: ${t.errorCode}`).toBe("succeeded");
      for (const o of t.outcomes) expect(o.status, `${t.repository}:${o.tag} ${JSON.stringify(o)}`).toBe("synced");
    }
    await expectStoreMatchesUpstream(store, registry.url, REPOS);

    const storm = proxy.log.filter((r) => r.fault === "429");
    expect(storm.length).toBeGreaterThan(0);
    // After each 429, no request starts (neither new ones nor other requests' retries) until
    // Retry-After (1 s) has passed; 50 ms of slack for requests already on the wire.
    for (const r of storm) {
      const inWindow = proxy.log.filter((x) => x.at > r.at + 50 && x.at < r.at + 950);
      expect(inWindow.map((x) => `${x.method} ${x.path} +${x.at - r.at} ms`), `requests within Retry-After of the 429 at +${r.at - stormStart} ms`).toEqual([]);
    }
    // The request rate during the storm is a fraction of the clean rate afterwards.
    const during = proxy.log.filter((r) => r.at >= stormStart && r.at - stormStart < 2500);
    expect(peakRate(during)).toBeLessThanOrEqual(12);
    expect(during.length).toBeLessThanOrEqual(30);
  });

  it("fails tags with a clear code on lying Content-Length, survives stalls, and completes the next clean round", async () => {
    const proxy = await startFaultProxy(registry.url, { seed: 99, rates: { "wrong-length": 0.15, stall: 0.05, latency: 0.2 }, stallMs: 1500 });
    proxies.push(proxy);
    const store = await newStore("lying");
    const svc = service(proxy, store);
    const first = await runRound(sql, db, svc, "lying-1");
    const failed = first.flatMap((t) => t.outcomes.filter((o) => o.status === "failed"));
    for (const o of failed) {
      if (o.status !== "failed") continue;
      expect(["NETWORK", "SIZE_MISMATCH", "DIGEST_MISMATCH", "MANIFEST_INVALID", "INVALID_RESPONSE", "TIMEOUT"], o.message).toContain(o.code);
    }
    // Whatever failed left nothing visible: the store verifies, and what it has is upstream's.
    const v = await store.verify();
    expect(v.ok).toBe(true);
    expect(proxy.counts()["wrong-length"]).toBeGreaterThan(0);

    proxy.rates = {};
    const second = await runRound(sql, db, svc, "lying-2");
    for (const t of second) for (const o of t.outcomes) expect(["synced", "unchanged"], `${t.repository}:${o.tag}`).toContain(o.status);
    await expectStoreMatchesUpstream(store, registry.url, REPOS);
  });

  it("fails with STORE_FULL when the disk fills, shows nothing half-written, and recovers once space is freed", async () => {
    const mnt = path.join(tmp, "small-disk");
    await mkdir(mnt, { recursive: true });
    let mounted = false;
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], { stdio: "ignore" });
      mounted = true;
    } catch {
      console.warn("cannot mount a tmpfs here: the disk-full case uses an injected ENOSPC instead");
    }
    try {
      const proxy = await startFaultProxy(registry.url, { seed: 3 });
      proxies.push(proxy);
      const storeDir = path.join(mnt, "store");
      await mkdir(storeDir, { recursive: true });
      const real = await openStore(storeDir, { fsync: false });
      // Fill the disk (tmpfs) or make every blob write fail with ENOSPC (fallback).
      const filler = path.join(mnt, "filler");
      let injected = !mounted;
      if (mounted) await writeFile(filler, Buffer.alloc(2_800_000)).catch(() => undefined);
      const store: Store = mounted ? real : enospcStore(real, () => injected);
      const svc = service(proxy, store);

      const first = await runRound(sql, db, svc, "full-1", { maxAttempts: 3 });
      const codes = first.map((t) => t.errorCode);
      expect(codes.filter((c) => c === "STORE_FULL").length, JSON.stringify(first.map((t) => [t.repository, t.status, t.errorCode, t.errorMessage]))).toBeGreaterThan(0);
      for (const t of first.filter((x) => x.status === "failed")) expect(t.errorCode).toBe("STORE_FULL");
      const full = first.flatMap((t) => t.outcomes).filter((o) => o.status === "failed");
      for (const o of full) if (o.status === "failed") expect(o.code).toBe("STORE_FULL");
      // Nothing half-written is visible: the store verifies; no temp or staging file remains.
      // Nothing half-written is visible, even while the disk is full: no temp or staging file
      // remains, and every visible tag is complete and byte-identical to upstream.
      expect(await listDir(path.join(real.root, "tmp"))).toEqual([]);
      expect(await listDir(path.join(real.root, "staging"))).toEqual([]);
      const visible = (await real.listRepositories()).filter((r) => REPOS.includes(r));
      const partial = await compareStoreWithUpstream(real, registry.url, visible);
      expect(partial.problems.filter((p) => !/ is missing, upstream /.test(p))).toEqual([]);

      // Free the space: verify now passes (it takes repository locks, which need a little disk),
      // and the next round completes.
      await rm(filler, { force: true });
      injected = false;
      const vr = await real.verify();
      expect({ corrupt: vr.corrupt, missing: vr.missing, invalid: vr.invalid }).toEqual({ corrupt: [], missing: [], invalid: [] });
      const second = await runRound(sql, db, svc, "full-2");
      for (const t of second) expect(t.status, `${t.repository}: ${t.errorCode} ${t.errorMessage}`).toBe("succeeded");
      await expectStoreMatchesUpstream(real, registry.url, REPOS);
    } finally {
      if (mounted) execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
    }
  });
});

/** Pushes an image with exactly these layers and a fixed config; "" pushes by digest. Returns its descriptor. */
async function pushSeeded(reg: TestRegistry, repo: string, tag: string, layers: Buffer[], architecture = "amd64") {
  const config = Buffer.from(JSON.stringify({ architecture, os: "linux", created: "2024-01-01T00:00:00Z", rootfs: { type: "layers", diff_ids: [] } }));
  const layerDescs = [];
  for (const l of layers) layerDescs.push({ mediaType: MT.ociLayer, digest: await pushBlob(reg, repo, l), size: l.length });
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: await pushBlob(reg, repo, config), size: config.length }, layers: layerDescs }),
  );
  const digest = await pushManifest(reg, repo, tag || `sha256:${createHash("sha256").update(manifest).digest("hex")}`, manifest, MT.ociManifest);
  return { mediaType: MT.ociManifest, digest, size: manifest.length, platform: { os: "linux", architecture } };
}

/** A Store whose blob writes fail with ENOSPC half-way while `on()` (the real write path maps it). */
function enospcStore(store: Store, on: () => boolean): Store {
  const wrapped = Object.create(store) as Store;
  wrapped.stage = async (repo) => {
    const s = await store.stage(repo);
    const writeBlob = s.writeBlob.bind(s);
    s.writeBlob = (digest, size, body) => {
      if (!on()) return writeBlob(digest, size, body);
      async function* failing() {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          yield chunk;
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        }
      }
      return writeBlob(digest, size, failing());
    };
    return s;
  };
  return wrapped;
}
