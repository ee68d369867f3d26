/**
 * readHealth and evaluate against real Postgres:
 *   - the failed-tasks-in-a-row count that `failureAfter` compares with restarts at each success,
 *     so a lone failing repository among succeeding ones stays at 1;
 *   - repositories still failing are those whose latest task of the generator's current or
 *     previous round failed; one that leaves the catalog drops out a round later;
 *   - two failing repositories back to back among healthy ones, round after round: one failure
 *     event, held, and one recovery once both succeed (not an alert and a recovery per round).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate, readHealth, webhooksFrom } from "../../../lib/alerts";
import { createPrismaClient, type Db } from "../../../lib/db";
import { generatorTrigger } from "../../../lib/scheduler";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("registry health: failed tasks in a row", { timeout: 60_000 }, () => {
  let db0: TestDatabase;
  let client: pg.Client;
  const sql = { query: async <T>(text: string, ...params: unknown[]) => (await client.query(text, params)).rows as T[] };
  let registryId = "";
  let minute = 0;
  const task = async (repository: string, status: "succeeded" | "failed", trigger = "poll", registry = registryId) => {
    minute += 1;
    await client.query(
      `INSERT INTO task (kind, registry_id, repository, status, trigger, finished_at, error_code, error_message)
       VALUES ('sync-repository', $1::uuid, $2, $3, $7, now() - interval '1 hour' + $4 * interval '1 minute', $5, $6)`,
      [registry, repository, status, minute, status === "failed" ? "UPSTREAM_ERROR" : null, status === "failed" ? `HTTP 500 on ${repository}` : null, trigger],
    );
  };
  const health = async (id = registryId, alerting = true) => (await readHealth(sql, [id], alerting ? [id] : []))[0]!;
  const newRegistry = async (name: string) => {
    const { rows } = await client.query<{ id: string }>(`INSERT INTO registry (id, name, config, updated_at) VALUES (gen_random_uuid(), $1, '{}', now()) RETURNING id`, [name]);
    await client.query(`INSERT INTO generator_state (registry_id, round, updated_at) VALUES ($1::uuid, 0, now())`, [rows[0]!.id]);
    return rows[0]!.id;
  };
  /** Starts the registry's next generator round; returns a function recording its tasks. */
  const nextRound = async (id: string) => {
    const { rows } = await client.query<{ round: number }>(`UPDATE generator_state SET round = round + 1 WHERE registry_id = $1::uuid RETURNING round`, [id]);
    const trigger = generatorTrigger(rows[0]!.round);
    return (repository: string, status: "succeeded" | "failed") => task(repository, status, trigger, id);
  };

  beforeAll(async () => {
    db0 = await createTestDatabase();
    client = new pg.Client({ connectionString: db0.url });
    await client.connect();
    const { rows } = await client.query<{ id: string }>(`INSERT INTO registry (id, name, config, updated_at) VALUES (gen_random_uuid(), 'hub', '{}', now()) RETURNING id`);
    registryId = rows[0]!.id;
  });
  afterAll(async () => {
    await client?.end();
    await db0?.drop();
  });

  it("counts failures since the last success and restarts the count at each success", async () => {
    expect(await health()).toMatchObject({ failure: null, failedTasksInARow: 0 });
    // Round 1 and 2: lib/bad fails between two repositories that succeed.
    for (let round = 0; round < 2; round++) {
      await task("lib/a", "succeeded");
      await task("lib/bad", "failed");
      expect(await health()).toMatchObject({ failure: { source: "task", repository: "lib/bad" }, failedTasksInARow: 1 });
      await task("lib/c", "succeeded");
      expect(await health()).toMatchObject({ failure: null, failedTasksInARow: 0 });
    }
    // Everything fails: the count grows.
    await task("lib/a", "failed");
    await task("lib/bad", "failed");
    await task("lib/c", "failed");
    expect(await health()).toMatchObject({ failure: { source: "task", repository: "lib/c" }, failedTasksInARow: 3 });
  });

  it("counts the repositories failing in the generator's current or previous round; one gone from the catalog drops out a round later", async () => {
    const id = await newRegistry("rounds");
    expect(await health(id)).toMatchObject({ failingRepositories: 0, failingSample: [] });
    const r1 = await nextRound(id);
    await r1("lib/a", "succeeded");
    await r1("lib/b", "failed");
    await r1("lib/c", "failed");
    await r1("lib/d", "succeeded");
    expect(await health(id)).toMatchObject({ failure: null, failingRepositories: 2, failingSample: ["lib/b", "lib/c"] });
    // Round 2: lib/b is fixed, lib/c is gone from the catalog (no task), a manual sync of lib/c
    // outside the rounds does not count either way.
    const r2 = await nextRound(id);
    await r2("lib/a", "succeeded");
    expect(await health(id)).toMatchObject({ failingRepositories: 2 });
    await r2("lib/b", "succeeded");
    await task("lib/c", "failed", "api", id);
    expect(await health(id)).toMatchObject({ failingRepositories: 1, failingSample: ["lib/c"] });
    // Counted only where it can matter: alerting, or failing now (the api task failed last).
    expect(await health(id, false)).toMatchObject({ failure: { repository: "lib/c" }, failingRepositories: 1 });
    await r2("lib/d", "succeeded");
    expect(await health(id, false)).toMatchObject({ failure: null, failingRepositories: 0 });
    expect(await health(id)).toMatchObject({ failingRepositories: 1 });
    // Round 3 starts: round 1 is out of the window, and lib/c with it.
    await nextRound(id);
    expect(await health(id)).toMatchObject({ failingRepositories: 0, failingSample: [] });
  });

  it("two failing repositories back to back, round after round: one failure event, held, then one recovery", async () => {
    const id = await newRegistry("flapping");
    const db: Db = createPrismaClient(db0.url);
    try {
      const [hook] = webhooksFrom({ evaluateInterval: 1000, webhooks: [{ name: "oncall", url: "https://hooks.example/x", secret: "0123456789abcdef0123", registries: "all", events: ["failure", "recovery"], maxAttempts: 1, failureAfter: 2, retryDelay: 100, timeout: 1000 }] });
      const watched = [{ id, name: "flapping", periodic: true }];
      const sent: string[] = [];
      const check = async () => {
        const events = await evaluate(db, [hook!], watched);
        sent.push(...(events ?? []).map((e) => e.type));
      };
      await check();
      for (let round = 0; round < 3; round++) {
        const run = await nextRound(id);
        for (const [repo, status] of [["lib/a", "succeeded"], ["lib/b", "failed"], ["lib/c", "failed"], ["lib/d", "succeeded"]] as const) {
          await run(repo, status);
          await check();
        }
      }
      expect(sent).toEqual(["failure"]);
      const [event] = await db.alertEvent.findMany({ where: { registryId: id } });
      expect(event!.payload).toMatchObject({ type: "failure", failingRepositories: { count: 2, sample: ["lib/b", "lib/c"] } });
      const fixed = await nextRound(id);
      await fixed("lib/a", "succeeded");
      await fixed("lib/b", "succeeded");
      await check();
      expect(sent).toEqual(["failure"]);
      await fixed("lib/c", "succeeded");
      await check();
      expect(sent).toEqual(["failure", "recovery"]);
    } finally {
      await db.$disconnect();
    }
  });
});
