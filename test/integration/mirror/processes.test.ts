/**
 * The scheduler's acceptance, across real processes: one server and two `npm run worker`
 * processes share a database and a store, mirror a real docker-registry through a counting
 * proxy, survive a worker and a generator leader killed with SIGKILL, and answer on-demand pulls
 * with exactly one upstream copy.
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { generatorSnapshot, sqlFromPrisma, triggerRound, type Sql } from "../../../lib/scheduler";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { startWorker, type WorkerProcess } from "../../helpers/ferry-worker";
import { MT, pushImage, type PushedManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { waitFor } from "../../helpers/wait";

const run = promisify(execFile);
const PERIODIC = ["lib/d", "lib/e", "solo", "team/a", "team/b", "team/sub/c"];
const TAGS = ["1.0", "1.1"];

describe.skipIf(!registryAvailable())("mirroring across processes", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let server: FerryProcess;
  const workers: WorkerProcess[] = [];
  let env: Record<string, string>;
  const onDemandImages = new Map<string, PushedManifest>();

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-procs-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    for (const repo of PERIODIC) for (const tag of TAGS) await pushImage(registry, repo, tag, { layers: [4096, 2048] });
    for (const repo of ["ondemand/app", "ondemand/slow", "ondemand/skopeo"]) onDemandImages.set(repo, await pushImage(registry, repo, "v1", { layers: [65_536, 4096, 1024] }));
    proxy = await startUpstreamProxy(registry.url);
    const config = {
      registries: [
        { name: "periodic", urls: [proxy.url], pollInterval: "1h", tlsVerify: false, maxRetries: 3, retryDelay: "200ms", content: [{ prefix: "team/**" }, { prefix: "lib/*" }, { prefix: "solo" }] },
        { name: "ondemand", urls: [proxy.url], onDemand: true, tlsVerify: false, maxRetries: 0, content: [{ prefix: "ondemand/**" }] },
      ],
    };
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(configFile, JSON.stringify(config));
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
    env = {
      DATABASE_URL: tdb.url,
      FERRY_CONFIG: configFile,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_TASK_LEASE_MS: "1500",
      FERRY_GENERATOR_TICK_MS: "200",
    };
  }, 600_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop("SIGKILL")));
    await server?.stop("SIGKILL");
    await db?.$disconnect();
    await tdb?.drop();
    await proxy?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const roundTasks = (round: number) =>
    db.task.findMany({ where: { kind: "syncRepo", trigger: `generator:round-${round}` }, orderBy: { id: "asc" } });

  it("syncs every repository once per round with one server and two workers, surviving a SIGKILLed worker", async () => {
    // Hold lib/d's blobs so its task is mid-flight when its worker dies.
    proxy.delay = (method, p) => (method === "GET" && p.startsWith("/v2/lib/d/blobs/") ? 2500 : 0);
    server = await startFerry({ ...env, FERRY_WORKERS: "0" });
    workers.push(startWorker({ ...env, FERRY_WORKERS: "2" }), startWorker({ ...env, FERRY_WORKERS: "2" }));

    const running = await waitFor("lib/d's task to run", async () => {
      const t = await db.task.findFirst({ where: { repository: "lib/d", status: "running" } });
      return t?.leaseOwner ? t : null;
    });
    const victim = workers.find((w) => running.leaseOwner!.includes(`:${w.pid}:`));
    expect(victim, `lease owner ${running.leaseOwner} is one of the workers`).toBeDefined();
    victim!.child.kill("SIGKILL");
    await victim!.exited;
    proxy.delay = () => 0;

    const snap = await waitFor("round 1 to finish", async () => {
      const [g] = await generatorSnapshot(sql);
      return g && g.round === 1 && g.roundEndedAt ? g : null;
    }, 90_000);
    expect(snap.registryName).toBe("periodic");
    const tasks = await roundTasks(1);
    expect(tasks.map((t) => t.repository).sort()).toEqual(PERIODIC);
    expect(tasks.every((t) => t.status === "succeeded")).toBe(true);
    const retried = tasks.find((t) => t.repository === "lib/d")!;
    expect(retried.attempts).toBe(2);
    // Repositories the dead worker never touched were asked for exactly once: one HEAD of each
    // tag, one GET of each manifest (by digest), one GET of each blob.
    for (const repo of PERIODIC.filter((r) => r !== "lib/d")) {
      for (const tag of TAGS) expect(proxy.count("HEAD", new RegExp(`^/v2/${repo}/manifests/${tag.replace(".", "\\.")}$`)), `${repo}:${tag}`).toBe(1);
      expect(proxy.count("GET", new RegExp(`^/v2/${repo}/manifests/sha256:`)), repo).toBe(TAGS.length);
      expect(proxy.count("GET", new RegExp(`^/v2/${repo}/blobs/`)), repo).toBe(TAGS.length * 3);
    }
    expect(await db.task.count({ where: { status: "running" } })).toBe(0);
    const tags = (await (await fetch(`${server.url}/v2/team/sub/c/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(TAGS);
  });

  it("continues the same round in another process when the generator leader is killed", async () => {
    const before = (await generatorSnapshot(sql))[0]!;
    // Slow every repository down so the round is still handing out work when the leader dies.
    proxy.delay = (method, p) => (method === "HEAD" && p.includes("/manifests/") ? 700 : 0);
    await triggerRound(sql, before.registryId);
    const mid = await waitFor("round 2 to be under way", async () => {
      const [g] = await generatorSnapshot(sql);
      return g && g.round === 2 && g.lastRepo !== "" && g.leaderId ? g : null;
    });
    const leaderPid = Number(/^gen-(\d+)-/.exec(mid.leaderId!)![1]);
    const procs = [{ pid: server.child.pid, kill: () => server.child.kill("SIGKILL"), exited: server.stop("SIGKILL") as Promise<unknown> }];
    const leader = [...workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null)].find((w) => w.pid === leaderPid);
    if (leader) {
      leader.child.kill("SIGKILL");
      await leader.exited;
      // Keep the server; restart a worker so two processes remain.
      workers.push(startWorker({ ...env, FERRY_WORKERS: "2" }));
    } else {
      expect(leaderPid).toBe(procs[0]!.pid);
      await procs[0]!.exited;
      server = await startFerry({ ...env, FERRY_WORKERS: "0" });
    }
    proxy.delay = () => 0;
    const done = await waitFor("round 2 to finish", async () => {
      const [g] = await generatorSnapshot(sql);
      return g && g.round === 2 && g.roundEndedAt ? g : null;
    }, 90_000);
    expect(done.leaderId).not.toBe(mid.leaderId);
    const tasks = await roundTasks(2);
    expect(tasks.map((t) => t.repository).sort()).toEqual(PERIODIC);
    expect(tasks.every((t) => t.status === "succeeded")).toBe(true);
    // Unchanged images cost no blob downloads in round 2.
    expect(tasks.every((t) => Number(t.bytesCopied) === 0)).toBe(true);
  });

  it("answers 50 concurrent pulls of an unmirrored image with one upstream copy", async () => {
    proxy.reset();
    const image = onDemandImages.get("ondemand/app")!;
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => fetch(`${server.url}/v2/ondemand/app/manifests/v1`, { headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } })),
    );
    const statuses = await Promise.all(responses.map(async (r) => [r.status, r.headers.get("docker-content-digest"), await r.arrayBuffer()] as const));
    expect(statuses.every(([s, d]) => s === 200 && d === image.digest)).toBe(true);
    for (const blob of image.blobs) expect(proxy.count("GET", new RegExp(`/blobs/${blob.digest}$`)), blob.digest).toBe(1);
    // One task copied it; a request that arrived just as it committed may have queued a second
    // task, which found the image unchanged (one HEAD, nothing copied).
    const tasks = await db.task.findMany({ where: { kind: "syncImage", repository: "ondemand/app" } });
    expect(tasks.filter((t) => Number(t.bytesCopied) > 0)).toHaveLength(1);
  });

  it("serves skopeo copy of an image it has never seen, fetched on demand, and of a periodic one", async () => {
    const host = server.url.replace("http://", "");
    const dest = path.join(tmp, "skopeo-ondemand");
    await run("/usr/bin/skopeo", ["copy", "--preserve-digests", "--src-tls-verify=false", `docker://${host}/ondemand/skopeo:v1`, `oci:${dest}:v1`]);
    const image = onDemandImages.get("ondemand/skopeo")!;
    const index = JSON.parse(await readFile(path.join(dest, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]!.digest).toBe(image.digest);
    for (const blob of image.blobs) expect((await readFile(path.join(dest, "blobs", "sha256", blob.digest.slice(7)))).length).toBe(blob.size);
    const periodic = path.join(tmp, "skopeo-periodic");
    await run("/usr/bin/skopeo", ["copy", "--preserve-digests", "--src-tls-verify=false", `docker://${host}/team/sub/c:1.1`, `oci:${periodic}:x`]);
  });

  it("finishes an on-demand copy after the client went away", async () => {
    proxy.delay = (method, p) => (method === "GET" && p.startsWith("/v2/ondemand/slow/blobs/") ? 800 : 0);
    const ac = new AbortController();
    const req = fetch(`${server.url}/v2/ondemand/slow/manifests/v1`, { signal: ac.signal }).catch((e: Error) => e);
    await waitFor("the on-demand task to start", () => db.task.findFirst({ where: { repository: "ondemand/slow", status: "running" } }));
    ac.abort();
    expect(await req).toBeInstanceOf(Error);
    await waitFor("the on-demand task to succeed", () => db.task.findFirst({ where: { repository: "ondemand/slow", status: "succeeded" } }), 30_000);
    proxy.delay = () => 0;
    proxy.reset();
    const res = await fetch(`${server.url}/v2/ondemand/slow/manifests/v1`);
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(onDemandImages.get("ondemand/slow")!.digest);
    expect(proxy.hits.size).toBe(0);
  });

  it("serves what it has while the upstream is down, and names the upstream failure otherwise", async () => {
    proxy.failWith = 503;
    try {
      const cached = await fetch(`${server.url}/v2/team/a/manifests/1.0`);
      expect(cached.status).toBe(200);
      const missing = await fetch(`${server.url}/v2/ondemand/other/manifests/v1`);
      expect(missing.status).toBeGreaterThanOrEqual(500);
      const body = (await missing.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]!.message).toMatch(/upstream ondemand/);
    } finally {
      proxy.failWith = null;
    }
  });
});
