/**
 * Bearer tokens cached per (realm, service, scope, identity) until shortly before they expire.
 * Concurrent requests for the same key share one token fetch instead of stampeding the server.
 */

interface Entry {
  token: string;
  expiresAt: number;
}

/** Tokens live at least this long per the Docker token spec when `expires_in` is absent. */
export const DEFAULT_TOKEN_TTL_S = 60;

/** A small token cache with in-flight de-duplication. */
export class TokenCache {
  private readonly tokens = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 1000,
  ) {}

  /** A valid cached token, if any. */
  get(key: string): string | undefined {
    const e = this.tokens.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return e.token;
  }

  /** Stores a token; refreshes 10 s (or 10% for short tokens) before it expires. */
  set(key: string, token: string, expiresInS: number, issuedAtMs?: number): void {
    const ttlMs = Math.max(1, expiresInS) * 1000;
    const skew = Math.min(10_000, ttlMs * 0.1);
    const issued = issuedAtMs !== undefined && issuedAtMs <= this.now() ? issuedAtMs : this.now();
    if (this.tokens.size >= this.maxEntries) {
      const oldest = this.tokens.keys().next().value;
      if (oldest !== undefined) this.tokens.delete(oldest);
    }
    this.tokens.set(key, { token, expiresAt: issued + ttlMs - skew });
  }

  /** Forgets a token the registry rejected. */
  delete(key: string): void {
    this.tokens.delete(key);
  }

  /** Returns the cached token or runs `fetch` once for all concurrent callers. */
  async getOrFetch(key: string, fetch: () => Promise<{ token: string; expiresIn: number; issuedAt?: number }>): Promise<string> {
    const hit = this.get(key);
    if (hit) return hit;
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const p = (async () => {
      try {
        const r = await fetch();
        this.set(key, r.token, r.expiresIn, r.issuedAt);
        return r.token;
      } finally {
        this.pending.delete(key);
      }
    })();
    this.pending.set(key, p);
    return p;
  }
}
