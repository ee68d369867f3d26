/**
 * readHealth against real Postgres: the failed-tasks-in-a-row count that `failureAfter` compares
 * with restarts at each success, so a lone failing repository among succeeding ones stays at 1.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHealth } from "../../../lib/alerts";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("registry health: failed tasks in a row", { timeout: 60_000 }, () => {
  let db: TestDatabase;
  let client: pg.Client;
  const sql = { query: async <T>(text: string, ...params: unknown[]) => (await client.query(text, params)).rows as T[] };
  let registryId = "";
  let minute = 0;
  const task = async (repository: string, status: "succeeded" | "failed") => {
    minute += 1;
    await client.query(
      `INSERT INTO task (kind, registry_id, repository, status, trigger, finished_at, error_code, error_message)
       VALUES ('sync-repository', $1::uuid, $2, $3, 'poll', now() - interval '1 hour' + $4 * interval '1 minute', $5, $6)`,
      [registryId, repository, status, minute, status === "failed" ? "UPSTREAM_ERROR" : null, status === "failed" ? `HTTP 500 on ${repository}` : null],
    );
  };
  const health = async () => (await readHealth(sql, [registryId]))[0]!;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ id: string }>(`INSERT INTO registry (id, name, config, updated_at) VALUES (gen_random_uuid(), 'hub', '{}', now()) RETURNING id`);
    registryId = rows[0]!.id;
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
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
});
