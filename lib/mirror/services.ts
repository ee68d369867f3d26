import { onLocalWrite, type Db } from "../db";
import type { Logger } from "../observability";
import { GenerationCache, type EventListener, type FerryEvent } from "../scheduler";
import type { Store } from "../store";
import { SOURCE_KEY } from "./apply-config";
import { createSyncService, parseRegistryConfig, PrismaTagState, type RegistryConfig, type SyncService, type SyncServiceExtras } from "../sync";

export type MirrorService = SyncService & SyncServiceExtras;

/** Age after which the registry list is read again before answering (no event feed). */
const ALL_TTL_MS = 1000;
/**
 * Age after which the list is re-read in the background while the event feed is connected. The
 * trigger announces every change, so this is only a safety net. (Re-reading every second, as
 * without the feed, ran a Prisma query on the serving event loop every second in the middle of
 * pulls: seen in the /v2 profile.)
 */
const ALL_REFRESH_MS = 30_000;

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
  /**
   * The process's LISTEN feed: a `registry` event (a trigger on the table announces every
   * change) makes the next `all()` read the database. Without it, or while it is disconnected,
   * `all()` waits for a fresh read whenever the list is older than a second.
   */
  events?: EventListener;
}

/**
 * One SyncService per registry row, rebuilt when the row changes (`updated_at`). Services hold
 * HTTP connection pools and catalog caches, so they are kept, not created per task.
 */
export class ServiceCache {
  #entries = new Map<string, { updatedAt: number; entry: RegistryEntry }>();

  readonly #offLocalWrite: () => void;

  constructor(private readonly o: ServiceCacheOptions) {
    o.events?.on("event", this.#onEvent);
    // A write by this process (an API edit) is seen before its NOTIFY comes back.
    this.#offLocalWrite = onLocalWrite(o.db, () => this.#list.invalidate());
    o.events?.on("reconnected", this.#onReconnected);
  }

  /** The registry's service, or null when the registry is gone or its config no longer parses. */
  async get(registryId: string): Promise<RegistryEntry | null> {
    const row = await this.o.db.registry.findUnique({ where: { id: registryId }, omit: { secret: false } });
    if (!row) {
      await this.#drop(registryId);
      return null;
    }
    return this.#fromRow(row);
  }

  /** Invalidated by every registry event and by `invalidate()`: a list read before is not served. */
  readonly #list = new GenerationCache<RegistryEntry[]>();
  readonly #onEvent = (e: FerryEvent) => {
    if (e.type === "registry") this.#list.invalidate();
  };
  // Events missed while the feed was down: the list may be stale.
  readonly #onReconnected = () => this.#list.invalidate();

  /**
   * Every registry in configuration order (creation order), enabled or not. Every pull asks, so
   * this is answered from memory: while the event feed is connected, the list is current until a
   * registry event says otherwise (then the next caller waits for a fresh read, so a new or edited
   * registry is seen at once), and a list older than `ALL_REFRESH_MS` is re-read in the
   * background (stale-while-revalidate: no pull waits for it). Without the feed, a list older than
   * a second is re-read before answering.
   */
  all(): Promise<RegistryEntry[]> {
    const hit = this.#list.current();
    if (hit !== null) {
      if (this.o.events?.connected) {
        if (hit.ageMs >= ALL_REFRESH_MS) this.#load().catch((err: unknown) => this.o.log.warn({ err }, "re-reading the registry list failed; serving the last one"));
        return Promise.resolve(hit.value);
      }
      if (hit.ageMs < ALL_TTL_MS) return Promise.resolve(hit.value);
    }
    return this.#load();
  }

  /** One read per generation at a time; its result is kept only if no event came meanwhile. */
  #load(): Promise<RegistryEntry[]> {
    return this.#list.load(() => this.#loadAll());
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
    this.#list.invalidate();
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
    this.#offLocalWrite();
    this.o.events?.off("event", this.#onEvent);
    this.o.events?.off("reconnected", this.#onReconnected);
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.entry.service.close().catch(() => {})));
  }
}
