/**
 * A round queues each repository once, even when the cursor save after a queue was lost (a crash
 * or a dead database between the two statements): the next leader is re-offered repositories
 * whose tasks already finished, and must not sync them a second time in the same round.
 * The catalog is a node:http fake (three repositories); tasks are claimed and completed through
 * the queue's own functions, as a worker would.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { claim, complete, GeneratorCoordinator, sqlFromPrisma, type Sql } from "../../../lib/scheduler";
import { FsStore } from "../../../lib/store";
import { createSyncService, MemoryTagState } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { waitFor } from "../../helpers/wait";

describe("generator: once per round", () => {
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let server: http.Server;
  let url: string;
  let tmp: string;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-once-"));
    server = http.createServer((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (req.url?.startsWith("/v2/_catalog")) return void res.writeHead(200, { "content-type": "application/json" }).end('{"repositories":["a","b","c"]}');
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

  it("does not queue a repository again after a lost cursor save", { timeout: 60_000 }, async () => {
    const registry = await db.registry.create({ data: { name: "once", config: {} } });
    const store = await FsStore.open(tmp);
    const service = createSyncService(
      { name: "once", urls: [url], pollInterval: "1h", maxRetries: 0, content: [{ prefix: "**" }] },
      { store, registryId: registry.id, tagState: new MemoryTagState() },
    );
    const leader = () =>
      new GeneratorCoordinator({
        sql,
        databaseUrl: tdb.url,
        log: createLogger({ level: "silent" }),
        tickMs: 100,
        registries: async () => [{ id: registry.id }],
        resolve: async () => ({ service, pollIntervalMs: 3_600_000, maxAttempts: 1 }),
      });
    const repos = async () => (await db.task.findMany({ where: { registryId: registry.id, kind: "syncRepo" }, orderBy: { id: "asc" } })).map((t) => t.repository);
    try {
      const first = leader();
      first.start();
      await waitFor("three queued repositories", async () => (await repos()).length === 3, 20_000);
      await first.stop();
      // A worker finishes all three; then the cursor is rewound as if the save after the last
      // queue had been lost (the statement that moves it never ran).
      for (let t = await claim(sql, "w", 10_000); t; t = await claim(sql, "w", 10_000)) await complete(sql, t.id, "w", {});
      await db.generatorState.update({ where: { registryId: registry.id }, data: { lastRepo: "", done: false } });

      const second = leader();
      second.start();
      try {
        await waitFor("the round to end", async () => (await db.generatorState.findUnique({ where: { registryId: registry.id } }))?.roundEndedAt != null, 20_000);
      } finally {
        await second.stop();
      }
      expect(await repos()).toEqual(["a", "b", "c"]);
      expect((await db.generatorState.findUnique({ where: { registryId: registry.id } }))?.round).toBe(1);
    } finally {
      await service.close();
    }
  });
});
