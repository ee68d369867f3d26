/**
 * schema.prisma and prisma/migrations must describe the same database. We build one database
 * from the migrations (as Ferry does at start) and one from the SQL that Prisma's schema engine
 * derives from schema.prisma, then compare what Postgres reports for both: tables, columns, types,
 * nullability, defaults, indexes, primary, unique and foreign keys. Any difference is drift.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../../lib/db";
import { catalogSnapshot, diffSnapshots } from "../../helpers/catalog";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { prismaSchemaToSql } from "../../helpers/schema-engine";

const schema = readFileSync("prisma/schema.prisma", "utf8");

async function databaseFromSchema(db: TestDatabase, schemaText: string): Promise<void> {
  const sql = await prismaSchemaToSql(schemaText, db.url);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe("schema drift", () => {
  const dbs: TestDatabase[] = [];
  let fromMigrations: string[];

  beforeAll(async () => {
    const db = await createTestDatabase({ migrated: false });
    dbs.push(db);
    await migrate(db.url);
    fromMigrations = await catalogSnapshot(db.url);
  });

  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it("schema.prisma and the migrations build identical databases", async () => {
    const db = await createTestDatabase({ migrated: false });
    dbs.push(db);
    await databaseFromSchema(db, schema);
    const fromSchema = await catalogSnapshot(db.url);
    expect(fromMigrations.length).toBeGreaterThan(20);
    expect(diffSnapshots(fromMigrations, fromSchema)).toEqual([]);
  });

  it("notices a drift: a column added to schema.prisma only", async () => {
    const drifted = schema.replace("  phase          String    @default(\"idle\")", "  phase          String    @default(\"idle\")\n  extra          Int?");
    expect(drifted).not.toBe(schema);
    const db = await createTestDatabase({ migrated: false });
    dbs.push(db);
    await databaseFromSchema(db, drifted);
    const diff = diffSnapshots(fromMigrations, await catalogSnapshot(db.url));
    expect(diff).toEqual(["+ column generator_state.extra integer"]);
  });

  it("notices a drift: a changed default and a dropped index", async () => {
    const drifted = schema
      .replace('status         String    @default("queued")', 'status         String    @default("new")')
      .replace("  @@index([queuedAt(sort: Desc)])\n", "");
    const db = await createTestDatabase({ migrated: false });
    dbs.push(db);
    await databaseFromSchema(db, drifted);
    const diff = diffSnapshots(fromMigrations, await catalogSnapshot(db.url));
    expect(diff.some((l) => l.startsWith("- index") && l.includes("task_queued_at_idx"))).toBe(true);
    expect(diff).toContain("+ column task.status text NOT NULL DEFAULT 'new'::text");
  });
});
