import type { Db } from "../db";
import type { Viewer } from "./viewer";
import { processWideWeakMap } from "../process-wide";

/** Where invalidations come from: the process's LISTEN connection (lib/scheduler EventListener). */
export interface InvalidationFeed {
  readonly connected: boolean;
}

export interface CachedCredential {
  viewer: Viewer;
  /** When this entry stops being served: the TTL, or the credential's own expiry if sooner. */
  until: number;
  /** Last write of last_used_at / last_seen_at, so the once-a-minute bookkeeping still happens. */
  touchedAt: number;
}

/**
 * Authenticated API tokens and sessions, by the hash of the secret, so a busy client costs no
 * database round trip per request. Revocation must still take effect at once, on every process:
 *
 * - every change to `api_token`, `user_account` or `user_session` that matters (revoke, delete,
 *   role, disabled, logout) NOTIFYs `{"type":"auth"}` from a database trigger at commit, and each
 *   process's listener clears its cache (`clear()`); the API also clears its own process's cache
 *   synchronously after every mutation, so the caller's next request never races the notification;
 * - entries are served only while the listener is connected (a notification missed while it was
 *   down would leave a revoked token working), and the cache is cleared when it reconnects;
 * - a lookup that started before a clear does not fill the cache afterwards (`generation`): it may
 *   have read the row before the change;
 * - entries also expire after `ttlMs` as a last bound. Only successes are cached: an unknown or
 *   revoked credential always costs a query (no negative caching an attacker could grow).
 */
export class AuthCache {
  #entries = new Map<string, CachedCredential>();
  #generation = 0;

  constructor(
    private readonly feed: InvalidationFeed,
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 10_000,
  ) {}

  get generation(): number {
    return this.#generation;
  }

  get(key: string): CachedCredential | undefined {
    if (!this.feed.connected) return undefined;
    const e = this.#entries.get(key);
    if (e && e.until <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Stores a lookup's result unless the cache was cleared since `generation` was read. */
  set(key: string, generation: number, viewer: Viewer, touchedAt: number, expiresAt: Date | null): void {
    if (generation !== this.#generation || !this.feed.connected) return;
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    const until = Math.min(Date.now() + this.ttlMs, expiresAt ? expiresAt.getTime() : Infinity);
    this.#entries.set(key, { viewer, until, touchedAt });
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

/** The cache for credentials looked up through `db` (process-wide: Next's bundle shares it). */
function caches(): WeakMap<Db, AuthCache> {
  return processWideWeakMap<Db, AuthCache>("ferry.auth-caches");
}

/** Makes lookups through `db` use `cache` (lib/api does this for the API's client). */
export function attachAuthCache(db: Db, cache: AuthCache): void {
  caches().set(db, cache);
}

export function authCacheOf(db: Db): AuthCache | undefined {
  return caches().get(db);
}

/** last_used_at / last_seen_at are written at most this often per credential. */
const TOUCH_EVERY_MS = 60_000;

/**
 * One credential lookup through `db`'s cache, if it has one. `load` reads the credential (null
 * when unknown, revoked, expired or its user disabled); `touch` records that it was used, at most
 * once a minute, so a busy client does not turn every read into a write.
 */
export async function cachedCredential(
  db: Db,
  key: string,
  load: () => Promise<{ viewer: Viewer; touchedAt: Date | null; expiresAt: Date | null } | null>,
  touch: () => Promise<unknown>,
): Promise<Viewer | null> {
  const cache = authCacheOf(db);
  const hit = cache?.get(key);
  if (hit) {
    if (Date.now() - hit.touchedAt > TOUCH_EVERY_MS) {
      hit.touchedAt = Date.now();
      await touch();
    }
    return { ...hit.viewer };
  }
  const generation = cache?.generation ?? 0;
  const found = await load();
  if (!found) return null;
  let touchedAt = found.touchedAt?.getTime() ?? 0;
  if (Date.now() - touchedAt > TOUCH_EVERY_MS) {
    touchedAt = Date.now();
    await touch();
  }
  cache?.set(key, generation, found.viewer, touchedAt, found.expiresAt);
  return { ...found.viewer };
}
