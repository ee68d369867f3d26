import { isDeepStrictEqual } from "node:util";
import type { Db } from "../db";
import type { Logger } from "../observability";
import type { RegistryConfig } from "../sync";

/** Marks a stored config that came from the config file (stripped before parsing). */
export const SOURCE_KEY = "x-ferry-source";

/**
 * Config as code: registries declared in the config file are created or updated in the database
 * at start (idempotent: an unchanged entry is not touched, so its services and caches survive a
 * restart). Credentials never reach the database from here; they stay in the file and are given
 * to the services in memory. A registry the file used to declare and no longer does is disabled,
 * not deleted: its history and mirrored content stay.
 *
 * Several processes may start at once on a fresh database: the reads and writes run in one
 * transaction under an advisory lock, so the second applier sees the first one's rows instead of
 * failing on the unique name.
 */
export async function applyRegistryConfig(db: Db, registries: Array<{ raw: Record<string, unknown>; parsed: RegistryConfig }>, log: Logger): Promise<{ created: string[]; updated: string[]; disabled: string[] }> {
  const result = { created: [] as string[], updated: [] as string[], disabled: [] as string[] };
  const names = new Set<string>();
  await db.$transaction(
    async (tx) => {
      await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('ferry:apply-registry-config'))::text AS l`);
      for (const { raw, parsed } of registries) {
        const name = parsed.name;
        names.add(name);
        // The raw entry (zot's field names, durations as written) is what is stored and re-parsed.
        const { credentials: _secret, name: _name, ...stored } = raw;
        const config = { ...stored, [SOURCE_KEY]: "config-file" };
        const existing = await tx.registry.findUnique({ where: { name } });
        if (!existing) {
          await tx.registry.create({ data: { name, config: config as object } });
          result.created.push(name);
        } else if (!sameJson(existing.config, config) || !existing.enabled) {
          await tx.registry.update({ where: { name }, data: { config: config as object, enabled: true } });
          result.updated.push(name);
        }
      }
      const fromFile = await tx.registry.findMany({ where: { enabled: true } });
      for (const r of fromFile) {
        if ((r.config as Record<string, unknown>)[SOURCE_KEY] === "config-file" && !names.has(r.name)) {
          await tx.registry.update({ where: { id: r.id }, data: { enabled: false } });
          result.disabled.push(r.name);
        }
      }
    },
    // Another process's apply may hold the lock for a while (many registries, a busy database).
    { maxWait: 30_000, timeout: 60_000 },
  );
  if (result.created.length + result.updated.length + result.disabled.length > 0) log.info(result, "registries applied from the config file");
  return result;
}

/**
 * Whether the stored config equals the one about to be stored. Postgres keeps JSON as jsonb,
 * which reorders object keys, so a string comparison would call every entry changed; this compares
 * values (the new one as it will be stored, i.e. through JSON) regardless of key order.
 */
function sameJson(stored: unknown, next: unknown): boolean {
  return isDeepStrictEqual(stored, JSON.parse(JSON.stringify(next)));
}
