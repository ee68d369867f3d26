/**
 * The generator's persisted backoff, end to end: a real SyncService asks a registry whose
 * catalog fails (a node:http fake: a real registry cannot be told to fail), and the
 * coordinator's rows in generator_state must show waitTime 2 s, 4 s, then the poll-interval cap,
 * and 0 again once the catalog answers.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { GeneratorCoordinator, sqlFromPrisma, type Sql } from "../../../lib/scheduler";
import { FsStore } from "../../../lib/store";
import { createSyncService, MemoryTagState } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

describe("generator backoff", () => {
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let server: http.Server;
  let url: string;
  let tmp: string;
  let catalogUp = false;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-gen-"));
    server = http.createServer((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (req.url?.startsWith("/v2/_catalog")) {
        if (!catalogUp) return void res.writeHead(500, { "content-type": "application/json" }).end('{"errors":[{"code":"UNKNOWN","message":"down"}]}');
        return void res.writeHead(200, { "content-type": "application/json" }).end('{"repositories":[]}');
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await db.$disconnect();
    await tdb.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  it("persists 2 s, 4 s, then the poll-interval cap while the catalog fails, and resets after", async () => {
    const registry = await db.registry.create({ data: { name: "flaky", config: {} } });
    const store = await FsStore.open(tmp);
    const service = createSyncService(
      { name: "flaky", urls: [url], pollInterval: "5s", maxRetries: 0, content: [{ prefix: "**" }] },
      { store, registryId: registry.id, tagState: new MemoryTagState() },
    );
    const seen: number[] = [];
    const coordinator = new GeneratorCoordinator({
      sql,
      databaseUrl: tdb.url,
      log: createLogger({ level: "silent" }),
      tickMs: 100,
      registries: async () => [{ id: registry.id }],
      resolve: async () => ({ service, pollIntervalMs: 5000, maxAttempts: 1 }),
    });
    coordinator.start();
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && seen.length < 4) {
        const g = await db.generatorState.findUnique({ where: { registryId: registry.id } });
        if (g && g.waitTimeMs > 0 && seen[seen.length - 1] !== g.waitTimeMs) seen.push(g.waitTimeMs);
        if (seen.length === 3 && g?.phase === "backing-off") catalogUp = true;
        if (catalogUp && g?.waitTimeMs === 0) seen.push(0);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toEqual([2000, 4000, 5000, 0]);
      const g = await db.generatorState.findUnique({ where: { registryId: registry.id } });
      expect(g?.lastError).toBeNull();
    } finally {
      await coordinator.stop();
      await service.close();
    }
  }, 40_000);
});
