/**
 * Rate-limit headers as registries send them: Docker Hub's `RateLimit-Limit: 100;w=21600` and
 * `RateLimit-Remaining: 76;w=21600`, the IETF draft's combined `RateLimit: limit=…, remaining=…,
 * reset=…`, and the older `X-RateLimit-*`. Exposed so the sync layer can slow down before a 429.
 */
import type { IncomingHttpHeaders } from "node:http";
import { header } from "./transport";

/** The most recent rate-limit state the registry reported. */
export interface RateLimitInfo {
  limit?: number;
  remaining?: number;
  /** Seconds until the window resets, when the registry says. */
  resetSeconds?: number;
  /** Window length in seconds (Docker Hub's `w=`). */
  windowSeconds?: number;
  /** When these headers were seen (ms since epoch). */
  observedAt: number;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : undefined;
}

/** Extracts rate-limit headers; undefined when the response carries none. */
export function parseRateLimit(headers: IncomingHttpHeaders, now = Date.now()): RateLimitInfo | undefined {
  const info: RateLimitInfo = { observedAt: now };
  const limitH = header(headers, "ratelimit-limit") ?? header(headers, "x-ratelimit-limit");
  const remainingH = header(headers, "ratelimit-remaining") ?? header(headers, "x-ratelimit-remaining");
  const resetH = header(headers, "ratelimit-reset") ?? header(headers, "x-ratelimit-reset");
  const combined = header(headers, "ratelimit");
  if (limitH) {
    info.limit = num(limitH);
    const w = /w=(\d+)/.exec(limitH);
    if (w) info.windowSeconds = Number(w[1]);
  }
  if (remainingH) info.remaining = num(remainingH);
  if (resetH) info.resetSeconds = num(resetH);
  if (combined) {
    for (const part of combined.split(/[,;]/)) {
      const [k, v] = part.trim().split("=");
      if (k === "limit") info.limit ??= num(v);
      if (k === "remaining" || k === "r") info.remaining ??= num(v);
      if (k === "reset" || k === "t") info.resetSeconds ??= num(v);
    }
  }
  if (info.limit === undefined && info.remaining === undefined && info.resetSeconds === undefined) return undefined;
  for (const k of ["limit", "remaining", "resetSeconds", "windowSeconds"] as const) {
    if (info[k] === undefined) delete info[k];
  }
  return info;
}
