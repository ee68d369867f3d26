/**
 * Registry.urlHealth: what `upstream_url_health` says about each of a registry's urls (written by
 * every process's lib/mirror recorder from its own upstream requests). A url nothing has talked
 * to yet is UNKNOWN.
 */
import type { Db } from "../db";

export interface UrlHealthView {
  url: string;
  status: "UP" | "DOWN" | "UNKNOWN";
  lastCheckedAt: Date | null;
  /** The failure of the last observation (a network error, a 5xx, a 429); null when it went well. */
  lastError: string | null;
  /** The last `RateLimit-Remaining` the upstream reported; null when it never sent one. */
  rateLimitRemaining: number | null;
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/** Health for the urls of each config, in the configs' url order; one query for all of them. */
export async function urlHealthFor(db: Db, configs: ReadonlyArray<Record<string, unknown>>): Promise<UrlHealthView[][]> {
  const urlsOf = configs.map((c) => (Array.isArray(c.urls) ? c.urls.filter((u): u is string => typeof u === "string") : []));
  const origins = [...new Set(urlsOf.flat().map(originOf).filter((o): o is string => o !== null))];
  const rows = origins.length ? await db.upstreamUrlHealth.findMany({ where: { origin: { in: origins } } }) : [];
  const byOrigin = new Map(rows.map((r) => [r.origin, r]));
  return urlsOf.map((urls) =>
    urls.map((url) => {
      const r = byOrigin.get(originOf(url) ?? "");
      return r
        ? { url, status: r.status === "DOWN" ? "DOWN" : "UP", lastCheckedAt: r.lastCheckedAt, lastError: r.lastError, rateLimitRemaining: r.rateLimitRemaining }
        : { url, status: "UNKNOWN", lastCheckedAt: null, lastError: null, rateLimitRemaining: null };
    }),
  );
}
