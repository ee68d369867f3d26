/**
 * The generator end to end against a node:http fake catalog (a real registry cannot be told to
 * fail), with a real SyncService and the coordinator's rows in generator_state:
 * - persisted backoff: waitTime 2 s, 4 s, then the poll-interval cap, and 0 again once the catalog
 *   answers;
 * - once per round: a repository re-offered after a lost cursor save (a crash or a dead database
 *   between queuing and saving) whose task already finished is not queued again. Tasks are claimed
 *   and completed through the queue's own functions, as a worker would;
 * - an operator's trigger racing a leader that starts the next round never ends that fresh round;
 * - nor is one racing the leader's "round finished" write pushed back a poll interval.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { claim, complete, enqueue, GeneratorCoordinator, generatorSnapshot, generatorTrigger, PRIORITY, resumeRegistry, sqlFromPrisma, triggerRound, type Sql } from "../../../lib/scheduler";
import { FsStore } from "../../../lib/store";
import { createSyncService, MemoryTagState, type SyncService } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { waitFor } from "../../helpers/wait";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

describe("generator", () => {
  let tdb: TestDatabase;
  let db: Db;
  let sql: Sql;
  let server: http.Server;
  let url: string;
  let tmp: string;
  let catalogUp = false;
  let repositories: string[] = [];

  const coordinatorFor = (registryId: string, service: SyncService, pollIntervalMs: number) =>
    new GeneratorCoordinator({
      sql,
      databaseUrl: tdb.url,
      log: createLogger({ level: "silent" }),
      tickMs: 100,
      registries: async () => [{ id: registryId }],
      resolve: async () => ({ service, pollIntervalMs, maxAttempts: 1 }),
    });

  /** `sql` that runs `race` once, right after the next read of the generator row (a second process acting at that exact point). */
  const racingAfterGeneratorRead = (race: () => Promise<void>) => {
    const state = { raced: false };
    const racing: Sql = {
      async query<T>(text: string, ...params: unknown[]) {
        const rows = await sql.query<T>(text, ...params);
        if (!state.raced && text.startsWith("SELECT * FROM generator_state")) {
          state.raced = true;
          await race();
        }
        return rows;
      },
    };
    return { racing, state };
  };

  /**
   * A leader for one registry (hourly rounds) whose generator reads go through `sql`; `use` runs
   * with it, and the leader and its service are stopped after.
   */
  async function withLeader(registry: { id: string; name: string }, sqlForLeader: Sql, use: (coordinator: GeneratorCoordinator) => Promise<void>): Promise<void> {
    const store = await FsStore.open(path.join(tmp, registry.name));
    const service = createSyncService(
      { name: registry.name, urls: [url], pollInterval: "1h", maxRetries: 0, content: [{ prefix: "**" }] },
      { store, registryId: registry.id, tagState: new MemoryTagState() },
    );
    const coordinator = new GeneratorCoordinator({
      sql: sqlForLeader,
      databaseUrl: tdb.url,
      log: createLogger({ level: "silent" }),
      registries: async () => [{ id: registry.id }],
      resolve: async () => ({ service, pollIntervalMs: 3_600_000, maxAttempts: 1 }),
    });
    try {
      await use(coordinator);
    } finally {
      await coordinator.stop();
      await service.close();
    }
  }

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    sql = sqlFromPrisma(db);
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-gen-"));
    server = http.createServer((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (req.url?.startsWith("/v2/_catalog")) {
        if (!catalogUp) return void res.writeHead(500, { "content-type": "application/json" }).end('{"errors":[{"code":"UNKNOWN","message":"down"}]}');
        return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ repositories }));
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
    const coordinator = coordinatorFor(registry.id, service, 5000);
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

  it("does not queue a repository again after a lost cursor save", { timeout: 60_000 }, async () => {
    catalogUp = true;
    repositories = ["a", "b", "c"];
    const registry = await db.registry.create({ data: { name: "once", config: {} } });
    const store = await FsStore.open(path.join(tmp, "once"));
    const service = createSyncService(
      { name: "once", urls: [url], pollInterval: "1h", maxRetries: 0, content: [{ prefix: "**" }] },
      { store, registryId: registry.id, tagState: new MemoryTagState() },
    );
    const leader = () => coordinatorFor(registry.id, service, 3_600_000);
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

  it("a trigger that lands while the leader records the round's end is not pushed back a poll interval", async () => {
    catalogUp = true;
    repositories = ["a"];
    const registry = await db.registry.create({ data: { name: "ending", config: {} } });
    // Round 1 handed out everything and its last task has ended; the leader has not recorded the end yet.
    await db.generatorState.create({ data: { registryId: registry.id, round: 1, done: true, phase: "syncing" } });
    // The operator's trigger commits right after the leader read the generator, before it writes
    // "round finished, next round in an hour".
    const { racing, state } = racingAfterGeneratorRead(() => triggerRound(sql, registry.id));
    await withLeader(registry, racing, async (coordinator) => {
      await coordinator.tick();
      expect(state.raced).toBe(true);
      // The trigger asked for the next round now: the next tick starts it.
      await coordinator.tick();
      const g = await db.generatorState.findUnique({ where: { registryId: registry.id } });
      expect({ round: g?.round, phase: g?.phase }).toEqual({ round: 2, phase: "syncing" });
    });
  });

  it("a resume that lands right after the leader read 'paused' is not shown as paused", async () => {
    const registry = await db.registry.create({ data: { name: "resumed", config: {} } });
    await db.generatorState.create({ data: { registryId: registry.id, round: 1, done: true, roundEndedAt: new Date(), nextRoundAt: new Date(Date.now() + 3_600_000), phase: "idle", paused: true } });
    const { racing, state } = racingAfterGeneratorRead(() => resumeRegistry(sql, registry.id));
    await withLeader(registry, racing, async (coordinator) => {
      await coordinator.tick();
      expect(state.raced).toBe(true);
      const g = await db.generatorState.findUnique({ where: { registryId: registry.id } });
      expect({ paused: g?.paused, phase: g?.phase }).toEqual({ paused: false, phase: "idle" });
      const [snap] = (await generatorSnapshot(sql)).filter((x) => x.registryId === registry.id);
      expect(snap?.phase).not.toBe("paused");
    });
  });

  it("a trigger that races the leader starting the next round does not end that round", async () => {
    const registry = await db.registry.create({ data: { name: "race", config: {} } });
    await db.generatorState.create({ data: { registryId: registry.id, round: 1, done: true, roundEndedAt: new Date(), phase: "waiting" } });
    // The leader starts round 2 and queues its first repository right after the trigger has read
    // the generator (what a second process does at any moment): done by hand at that exact point.
    const { racing, state } = racingAfterGeneratorRead(async () => {
      await db.generatorState.update({ where: { registryId: registry.id }, data: { round: 2, done: false, lastRepo: "a", roundEndedAt: null, nextRoundAt: null, phase: "syncing" } });
      await enqueue(sql, { kind: "syncRepo", registryId: registry.id, repository: "a", priority: PRIORITY.periodic, trigger: generatorTrigger(2) });
    });
    await expect(triggerRound(racing, registry.id)).rejects.toMatchObject({ code: "CONFLICT", message: "round 2 is still in progress" });
    expect(state.raced).toBe(true);
    const g = await db.generatorState.findUnique({ where: { registryId: registry.id } });
    expect({ round: g?.round, done: g?.done, roundEndedAt: g?.roundEndedAt }).toEqual({ round: 2, done: false, roundEndedAt: null });
    // Once round 2 is done and its task ended, a trigger goes through.
    await db.generatorState.update({ where: { registryId: registry.id }, data: { done: true } });
    await expect(triggerRound(sql, registry.id)).rejects.toMatchObject({ code: "CONFLICT", message: "round 2 still has 1 repositories to finish" });
    for (let t = await claim(sql, "w", 10_000); t; t = await claim(sql, "w", 10_000)) await complete(sql, t.id, "w", {});
    await triggerRound(sql, registry.id);
    expect((await db.generatorState.findUnique({ where: { registryId: registry.id } }))?.nextRoundAt).not.toBeNull();
  });
});
