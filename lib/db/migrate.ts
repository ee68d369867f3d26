import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  /** Applied migrations whose file changed afterwards: a sign someone edited history. */
  modified: string[];
}

/** The default location, relative to Ferry's working directory. */
export const DEFAULT_MIGRATIONS_DIR = path.resolve("prisma/migrations");

/**
 * Advisory lock key for migrations: an arbitrary constant shared by every Ferry process, so two
 * processes starting at once take turns and the second finds nothing left to do.
 */
const MIGRATION_LOCK_KEY = 7_401_318_270_001n;

/**
 * Reads `prisma/migrations/<timestamp>_<name>/migration.sql` in name order (Prisma's layout).
 */
export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(/* turbopackIgnore: true */ dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(/* turbopackIgnore: true */ path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/**
 * The history table is Prisma's own `_prisma_migrations`, column for column, so `prisma migrate
 * status` and Ferry agree about what has run and an operator can switch tools without surgery.
 */
const HISTORY_DDL = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

/**
 * Applies pending migrations, each once, under a session advisory lock.
 *
 * Each migration runs in its own transaction together with its history row, so a failure leaves
 * neither half a migration nor a record of it, and the next start retries it. (The price: a
 * migration cannot use statements that refuse transactions, such as CREATE INDEX CONCURRENTLY.)
 */
export async function migrate(connectionString: string, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      return await applyPending(client, migrations);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    await client.end();
  }
}

async function applyPending(client: pg.Client, migrations: Migration[]): Promise<MigrateResult> {
  await client.query(HISTORY_DDL);
  const { rows } = await client.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations"
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
  const result: MigrateResult = { applied: [], alreadyApplied: [], modified: [] };
  for (const m of migrations) {
    const checksum = done.get(m.name);
    if (checksum !== undefined) {
      result.alreadyApplied.push(m.name);
      if (checksum !== m.checksum) result.modified.push(m.name);
      continue;
    }
    await client.query("BEGIN");
    try {
      await client.query(m.sql);
      await client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
         VALUES ($1, $2, now(), $3, 1)`,
        [randomUUID(), m.checksum, m.name],
      );
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK");
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
    }
    result.applied.push(m.name);
  }
  return result;
}

/** Names of migrations on disk that are not among `applied` (for /api/ready). */
export async function pendingMigrations(applied: Iterable<string>, dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const done = new Set(applied);
  return (await readMigrations(dir)).map((m) => m.name).filter((n) => !done.has(n));
}
