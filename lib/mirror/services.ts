import type { Db } from "../db";
import type { Logger } from "../observability";
import type { Store } from "../store";
import { SOURCE_KEY } from "./apply-config";
import { createSyncService, parseRegistryConfig, PrismaTagState, type RegistryConfig, type SyncService, type SyncServiceExtras } from "../sync";

export type MirrorService = SyncService & SyncServiceExtras;

const ALL_TTL_MS = 1000;

export interface RegistryEntry {
  id: string;
  name: string;
  enabled: boolean;
  ordinal: number;
  config: RegistryConfig;
  service: MirrorService;
}

export interface ServiceCacheOptions {
  db: Db;
  store: Store;
  log: Logger;
  /**
   * Secrets that are not in the database: credentials from the config file, by registry name.
   * (Credentials entered through the API are stored encrypted and decoded by `decodeSecret`.)
   */
  fileCredentials?: Map<string, RegistryConfig["credentials"]>;
  /** Opens a registry's sealed secret (credentials, client key) stored through the API. */
  decodeSecret?: (secret: Uint8Array, registryId: string) => Record<string, unknown>;
}

/**
 * One SyncService per registry row, rebuilt when the row changes (`updated_at`). Services hold
 * HTTP connection pools and catalog caches, so they are kept, not created per task.
 */
export class ServiceCache {
  #entries = new Map<string, { updatedAt: number; entry: RegistryEntry }>();

  constructor(private readonly o: ServiceCacheOptions) {}

  /** The registry's service, or null when the registry is gone or its config no longer parses. */
  async get(registryId: string): Promise<RegistryEntry | null> {
    const row = await this.o.db.registry.findUnique({ where: { id: registryId }, omit: { secret: false } });
    if (!row) {
      await this.#drop(registryId);
      return null;
    }
    return this.#fromRow(row);
  }

  #all: { at: number; entries: Promise<RegistryEntry[]> } | null = null;

  /**
   * Every registry in configuration order (creation order), enabled or not. Cached for a second:
   * every pull asks, and a registry edit reaching pulls a second later is fine.
   */
  all(): Promise<RegistryEntry[]> {
    if (this.#all && Date.now() - this.#all.at < ALL_TTL_MS) return this.#all.entries;
    const entries = this.#loadAll();
    this.#all = { at: Date.now(), entries };
    entries.catch(() => (this.#all = null));
    return entries;
  }

  async #loadAll(): Promise<RegistryEntry[]> {
    const rows = await this.o.db.registry.findMany({ orderBy: [{ createdAt: "asc" }, { name: "asc" }], omit: { secret: false } });
    const out: RegistryEntry[] = [];
    for (const [i, row] of rows.entries()) {
      const e = await this.#fromRow(row, i);
      if (e) out.push(e);
    }
    return out;
  }

  async #fromRow(
    row: { id: string; name: string; enabled: boolean; config: unknown; secret: Uint8Array | null; updatedAt: Date },
    ordinal = 0,
  ): Promise<RegistryEntry | null> {
    const cached = this.#entries.get(row.id);
    if (cached && cached.updatedAt === row.updatedAt.getTime()) return { ...cached.entry, enabled: row.enabled, ordinal };
    let config: RegistryConfig;
    try {
      const fileCredentials = this.o.fileCredentials?.get(row.name);
      const secret = row.secret && this.o.decodeSecret ? this.o.decodeSecret(row.secret, row.id) : fileCredentials ? { credentials: fileCredentials } : {};
      const { [SOURCE_KEY]: _source, ...stored } = row.config as Record<string, unknown>;
      config = parseRegistryConfig({ ...stored, name: row.name, ...secret });
    } catch (err) {
      this.o.log.error({ registry: row.name, err: (err as Error).message }, "stored registry config is invalid; registry skipped");
      return null;
    }
    const service = createSyncService(config, { store: this.o.store, registryId: row.id, tagState: new PrismaTagState(this.o.db) });
    const entry: RegistryEntry = { id: row.id, name: row.name, enabled: row.enabled, ordinal, config, service };
    const old = cached?.entry.service;
    this.#entries.set(row.id, { updatedAt: row.updatedAt.getTime(), entry });
    // Tasks may still hold the old service; let them finish before its pools close.
    if (old) setTimeout(() => void old.close().catch(() => {}), 60_000).unref();
    return entry;
  }

  /** The registry's name when its service is cached (metrics labels; no database round trip). */
  nameOf(registryId: string): string | undefined {
    return this.#entries.get(registryId)?.entry.name;
  }

  /**
   * Forgets every cached service (config reload: credentials from the file may have changed
   * without the row changing). Old services close after a minute, as on any rebuild.
   */
  invalidate(): void {
    const old = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of old) setTimeout(() => void e.entry.service.close().catch(() => {}), 60_000).unref();
  }

  async #drop(registryId: string): Promise<void> {
    const e = this.#entries.get(registryId);
    this.#entries.delete(registryId);
    await e?.entry.service.close().catch(() => {});
  }

  async close(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.entry.service.close().catch(() => {})));
  }
}
