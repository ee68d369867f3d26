/**
 * SIGKILL at 22 seeded random moments during periodic sync, across one server and two
 * `npm run worker` processes sharing a Postgres and a store. Each victim is restarted at once.
 * Afterwards: the round completes, no task stays running, a clean round brings every image, the
 * store verifies and matches the upstream byte for byte, and no staging or temp file is left.
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { generatorSnapshot, sqlFromPrisma, triggerRound, type Sql } from "../../../lib/scheduler";
import { openStore } from "../../../lib/store";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { mulberry32 } from "../../helpers/fault-proxy";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { startWorker, type WorkerProcess } from "../../helpers/ferry-worker";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { compareStoreWithUpstream } from "../../helpers/store-compare";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { waitFor } from "../../helpers/wait";

const REPOS = Array.from({ length: 20 }, (_, i) => `crash/r${String(i).padStart(2, "0")}`);
const TAGS = ["1", "2"];
const KILLS = Number(process.env.FERRY_CRASH_KILLS ?? 22);
const SEED = Number(process.env.FERRY_CRASH_SEED ?? 1234);

describe.skipIf(!registryAvailable())("SIGKILL at random moments during a sync", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let env: Record<string, string>;
  let server: FerryProcess | null = null;
  const workers: Array<WorkerProcess | null> = [null, null];
  const all: Array<{ stop(signal?: NodeJS.Signals): Promise<number | null> }> = [];

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-crash-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    for (const repo of REPOS) for (const tag of TAGS) await pushImage(registry, repo, tag, { layers: [48 * 1024, 8 * 1024, 1024] });
    proxy = await startUpstreamProxy(registry.url);
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(
      configFile,
      JSON.stringify({
        registries: [{ name: "crashy", urls: [proxy.url], pollInterval: "1h", tlsVerify: false, maxRetries: 5, retryDelay: "100ms", maxRetryDelay: "1s", content: [{ prefix: "crash/**" }] }],
      }),
    );
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
    await Promise.all(all.map((p) => p.stop("SIGKILL")));
    await db?.$disconnect();
    await tdb?.drop();
    await proxy?.close();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const newWorker = (): WorkerProcess => {
    const w = startWorker({ ...env, FERRY_WORKERS: "2" });
    all.push(w);
    return w;
  };
  const newServer = async (): Promise<FerryProcess> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const s = await startFerry({ ...env, FERRY_WORKERS: "2" });
        all.push(s);
        return s;
      } catch (err) {
        // Another process in this checkout may be rebuilding the dashboard (.next is replaced
        // while it builds): wait for that build, then start again. Not a Ferry failure.
        if (attempt > 0 || !/production build/.test(String(err))) throw err;
        await ensureBuilt(process.cwd(), () => {});
      }
    }
  };

  it(`survives ${KILLS} SIGKILLs of the server and workers, then completes with a verified store`, async () => {
    const started = Date.now();
    // Blob downloads take a while, so most kills land while a copy is in flight; manifests
    // HEADs are slowed a little so unchanged rounds also have something in flight.
    proxy.delay = (method, p) => (method === "GET" && p.includes("/blobs/") ? 400 : method === "HEAD" ? 150 : 0);
    server = await newServer();
    workers[0] = newWorker();
    workers[1] = newWorker();
    const rng = mulberry32(SEED);
    const log: string[] = [];
    let registryId = "";
    let midTask = 0;

    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, 250 + Math.floor(rng() * 1000)));
      const [g] = await generatorSnapshot(sql);
      if (g) {
        registryId = g.registryId;
        // Keep a round going: once one ends, start the next (later rounds HEAD every tag).
        if (g.roundEndedAt) await triggerRound(sql, g.registryId).catch(() => undefined);
      }
      // Mostly a process that is running a task right now (a kill mid-copy), sometimes any.
      // Tasks are short since a new image costs one GET per object, so a mid-task kill waits up
      // to 3 s for a task to be running rather than falling back to a random victim at once.
      const r1 = rng();
      const r2 = rng();
      let owners: string[] = [];
      const busy = (pid: number | undefined) => pid !== undefined && owners.some((o) => o.includes(`:${pid}:`));
      let candidates: Array<"server" | 0 | 1> = [];
      for (let wait = 0; wait < 20; wait++) {
        owners = (await db.task.findMany({ where: { status: "running" }, select: { leaseOwner: true } })).map((t) => t.leaseOwner ?? "");
        candidates = [];
        if (server && busy(server.child.pid)) candidates.push("server");
        for (const i of [0, 1] as const) if (busy(workers[i]!.pid)) candidates.push(i);
        if (r1 >= 0.7 || candidates.length > 0) break;
        await new Promise((r) => setTimeout(r, 150));
      }
      const choice: "server" | 0 | 1 =
        r1 < 0.7 && candidates.length > 0 ? candidates[Math.floor(r2 * candidates.length)]! : r2 < 0.25 ? "server" : r2 < 0.625 ? 0 : 1;
      if (choice === "server" ? busy(server?.child.pid) : busy(workers[choice]!.pid)) midTask++;
      if (choice === "server" && server) {
        const victim = server;
        server = null;
        victim.child.kill("SIGKILL");
        await victim.stop("SIGKILL");
        log.push(`${k}: server`);
        server = await newServer();
      } else {
        const i = choice === "server" ? 0 : choice;
        const victim = workers[i]!;
        victim.child.kill("SIGKILL");
        await victim.exited;
        log.push(`${k}: worker ${i}`);
        workers[i] = newWorker();
      }
    }
    proxy.delay = () => 0;

    // The round in progress completes, and nothing stays running.
    const ended = await waitFor("the round to end with no live task", async () => {
      const [g] = await generatorSnapshot(sql);
      const live = await db.task.count({ where: { status: { in: ["queued", "running", "retrying"] } } });
      return g && g.roundEndedAt && live === 0 ? g : null;
    }, 90_000);
    registryId = ended.registryId;
    expect(await db.task.count({ where: { status: "running" } })).toBe(0);
    const expired = await db.task.count({ where: { attempts: { gt: 1 } } });

    // A clean round brings everything (a task killed more often than its attempts allow failed
    // with LEASE_EXPIRED above; this round picks its repository up again).
    // The generator may already have started the next round by itself (its poll interval is
    // short here): then triggering is a CONFLICT, and that round is the clean one.
    await triggerRound(sql, registryId).catch((err: unknown) => {
      if ((err as { code?: string }).code !== "CONFLICT") throw err;
    });
    const final = await waitFor("the clean round to end", async () => {
      const [g] = await generatorSnapshot(sql);
      const live = await db.task.count({ where: { status: { in: ["queued", "running", "retrying"] } } });
      return g && g.round > ended.round && g.roundEndedAt && live === 0 ? g : null;
    }, 90_000);
    const finalTasks = await db.task.findMany({ where: { trigger: `generator:round-${final.round}` } });
    expect(finalTasks.map((t) => t.repository).sort()).toEqual(REPOS);
    for (const t of finalTasks) expect(t.status, `${t.repository}: ${t.errorCode} ${t.errorMessage}`).toBe("succeeded");

    // Stop everything gracefully; then no staging or temp file may remain.
    await Promise.all([server?.stop("SIGTERM"), ...workers.map((w) => w?.stop("SIGTERM"))]);
    const storeDir = path.join(tmp, "store");
    const leftovers = [...(await readdir(path.join(storeDir, "staging")).catch(() => [])), ...(await readdir(path.join(storeDir, "tmp")).catch(() => []))];
    expect(leftovers).toEqual([]);
    const store = await openStore(storeDir, { fsync: false, recover: false });
    const v = await store.verify();
    expect({ corrupt: v.corrupt, missing: v.missing, invalid: v.invalid }).toEqual({ corrupt: [], missing: [], invalid: [] });
    const cmp = await compareStoreWithUpstream(store, registry.url, REPOS);
    expect(cmp.problems).toEqual([]);
    expect(cmp.tags).toBe(REPOS.length * TAGS.length);
    console.log(`crash suite: ${KILLS} kills (${log.filter((l) => l.includes("server")).length} of the server), ${midTask} while the victim was running a task, ${expired} tasks run more than once, ${Math.round((Date.now() - started) / 1000)} s`);
    expect(midTask).toBeGreaterThanOrEqual(KILLS / 2);
  }, 300_000);
});
