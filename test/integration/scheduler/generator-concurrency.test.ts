/**
 * One registry whose upstream hangs must not hold back another's generator: the coordinator
 * advances registries concurrently, and skips a registry whose previous step is still running.
 * The stalled upstream is a node:http server that accepts requests and never answers (a real
 * registry cannot be told to hang); the healthy one is a real docker-registry with one image,
 * whose round is synced by a real WorkerPool.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { GeneratorCoordinator, sqlFromPrisma, WorkerPool, type PeriodicRegistry, type Sql } from "../../../lib/scheduler";
import { FsStore } from "../../../lib/store";
import { createSyncService, MemoryTagState } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { waitFor } from "../../helpers/wait";

const log = createLogger({ level: "silent" });

describe.skipIf(!registryAvailable())("generator concurrency", () => {
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let stall: http.Server;
  let stallUrl: string;
  const stalledRequests: string[] = [];
  let reg: TestRegistry;
  let tmp: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-gen-conc-"));
    // Takes every request and never answers it.
    stall = http.createServer((req) => void stalledRequests.push(req.url ?? ""));
    await new Promise<void>((r) => stall.listen(0, "127.0.0.1", r));
    stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
    reg = await startRegistry();
    await pushImage(reg, "library/alpine", "3.19");
  }, 60_000);

  afterAll(async () => {
    stall?.closeAllConnections();
    await new Promise((r) => stall?.close(r));
    await reg?.stop();
    await db?.$disconnect();
    await tdb?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("finishes the healthy registry's round while the stalled one is still waiting on its upstream, and never steps the stalled one twice at once", async () => {
    const store = await FsStore.open(tmp);
    // Created first, so a coordinator that went registry by registry would be stuck on it.
    const stalled = await db.registry.create({ data: { name: "stalled", config: {} } });
    const healthy = await db.registry.create({ data: { name: "healthy", config: {} } });
    const services = new Map([
      [stalled.id, createSyncService({ name: "stalled", urls: [stallUrl], pollInterval: "1h", maxRetries: 0, content: [{ prefix: "**" }] }, { store, registryId: stalled.id, tagState: new MemoryTagState() })],
      [healthy.id, createSyncService({ name: "healthy", urls: [reg.url], tlsVerify: false, pollInterval: "1h", maxRetries: 0, content: [{ prefix: "**" }] }, { store, registryId: healthy.id, tagState: new MemoryTagState() })],
    ]);
    const coordinator = new GeneratorCoordinator({
      sql,
      databaseUrl: tdb.url,
      log,
      tickMs: 50,
      registries: async () => [{ id: stalled.id }, { id: healthy.id }],
      resolve: async (id): Promise<PeriodicRegistry | null> => {
        const service = services.get(id);
        return service ? { service, pollIntervalMs: 3_600_000, maxAttempts: 1 } : null;
      },
    });
    const pool = new WorkerPool({
      sql,
      log,
      concurrency: 2,
      pollMs: 50,
      handler: async (task, ctx) => {
        const r = await services.get(task.registryId!)!.syncRepo(ctx, task.repository);
        return { outcomes: r.outcomes, bytesCopied: r.bytesCopied, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped };
      },
    });
    coordinator.start();
    pool.start();
    try {
      const ended = await waitFor(
        "the healthy registry's round to end",
        async () => {
          const g = await db.generatorState.findUnique({ where: { registryId: healthy.id } });
          return g?.roundEndedAt ? g : null;
        },
        30_000,
      );
      expect(ended.round).toBe(1);
      const synced = await db.task.findMany({ where: { registryId: healthy.id, kind: "syncRepo" } });
      expect(synced.map((t) => [t.repository, t.status])).toEqual([["library/alpine", "succeeded"]]);

      // Meanwhile the stalled registry's first step is still waiting for its first answer...
      const s = await db.generatorState.findUnique({ where: { registryId: stalled.id } });
      expect(s?.phase).toBe("listing");
      expect(s?.roundEndedAt).toBeNull();
      // ...and the many ticks since did not start a second step for it.
      expect(stalledRequests).toHaveLength(1);
      expect(coordinator.leading.sort()).toEqual([stalled.id, healthy.id].sort());
    } finally {
      // stop() waits for the stalled step: let it fail by dropping the upstream's connections.
      const stopping = coordinator.stop();
      stall.closeAllConnections();
      await stopping;
      await pool.stop(5000);
      for (const s of services.values()) await s.close();
    }
  }, 60_000);
});
