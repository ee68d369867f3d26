import { mkdtemp, mkdir, rm, writeFile, cp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, pendingMigrations, readMigrations } from "../../../lib/db";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("migrations", () => {
  let db: TestDatabase;
  let tmp: string;

  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-migrations-"));
  });
  afterAll(async () => {
    await db.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  it("applies every migration once even when many processes start at the same moment", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => migrate(db.url)));
    const all = (await readMigrations()).map((m) => m.name);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(all);
    const rows = await query<{ migration_name: string; n: string }>(
      db.url,
      `SELECT migration_name, count(*) AS n FROM "_prisma_migrations" GROUP BY migration_name ORDER BY migration_name`,
    );
    expect(rows.map((r) => [r.migration_name, Number(r.n)])).toEqual(all.map((n) => [n, 1]));
    expect(await pendingMigrations(rows.map((r) => r.migration_name))).toEqual([]);
  });

  it("applies a new migration later, and reports an edited one", async () => {
    const dir = path.join(tmp, "migrations");
    await cp("prisma/migrations", dir, { recursive: true });
    await mkdir(path.join(dir, "29990101000000_extra"));
    await writeFile(path.join(dir, "29990101000000_extra", "migration.sql"), `CREATE TABLE "extra" ("id" INTEGER PRIMARY KEY);`);
    const first = await migrate(db.url, dir);
    expect(first.applied).toEqual(["29990101000000_extra"]);
    await writeFile(path.join(dir, "29990101000000_extra", "migration.sql"), `CREATE TABLE "extra" ("id" BIGINT PRIMARY KEY);`);
    const second = await migrate(db.url, dir);
    expect(second.applied).toEqual([]);
    expect(second.modified).toEqual(["29990101000000_extra"]);
  });

  it("rolls back a failing migration entirely and retries it on the next start", async () => {
    const dir = path.join(tmp, "broken");
    await cp("prisma/migrations", dir, { recursive: true });
    await mkdir(path.join(dir, "29990202000000_broken"));
    const file = path.join(dir, "29990202000000_broken", "migration.sql");
    await writeFile(file, `CREATE TABLE "half" ("id" INTEGER); SELECT * FROM "no_such_table";`);
    await expect(migrate(db.url, dir)).rejects.toThrow(/29990202000000_broken failed/);
    const half = await query<{ t: string | null }>(db.url, `SELECT to_regclass('half')::text AS t`);
    expect(half[0]!.t).toBeNull();
    await writeFile(file, `CREATE TABLE "half" ("id" INTEGER);`);
    expect((await migrate(db.url, dir)).applied).toEqual(["29990202000000_broken"]);
  });
});
