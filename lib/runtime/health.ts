import { pendingMigrations } from "../db";
import type { Runtime } from "./boot";

export interface Readiness {
  ready: boolean;
  database: { ok: boolean; error?: string; embedded: boolean };
  migrations: { ok: boolean; pending: string[] };
}

/** Ready means: the database answers and every migration on disk has been applied. */
export async function checkReadiness(runtime: Runtime, migrationsDir?: string): Promise<Readiness> {
  const embedded = runtime.embedded !== null;
  let pending: string[];
  try {
    const exists = await runtime.db.$queryRawUnsafe<Array<{ t: string | null }>>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
    const rows = exists[0]?.t
      ? await runtime.db.$queryRawUnsafe<Array<{ migration_name: string }>>(
          `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
        )
      : [];
    pending = await pendingMigrations(rows.map((r) => r.migration_name), migrationsDir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    return {
      ready: false,
      database: { ok: false, embedded, error: code ? `database error ${code}` : "database unreachable" },
      migrations: { ok: false, pending: [] },
    };
  }
  return {
    ready: pending.length === 0,
    database: { ok: true, embedded },
    migrations: { ok: pending.length === 0, pending },
  };
}
