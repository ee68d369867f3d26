/**
 * The health of each upstream url, as this process's own requests see it, written to
 * `upstream_url_health` so every instance's API shows it (issue 7: "health of each URL,
 * rate-limit remaining"). Nothing is probed: undici publishes every request's response headers
 * (`undici:request:headers`) and failures (`undici:request:error`, connection errors included)
 * on diagnostics channels, and sync, on-demand pulls and connection tests all go through undici.
 *
 * An answer below 500 is UP (401 and 404 are a working registry saying no), a 5xx or a network
 * error is DOWN, a caller's abort says nothing. A change of status (or of error) is written at
 * once; an unchanged one at most every `flushMs`, so a round of thousands of requests costs a
 * handful of writes. Only the configured registries' origins are written (checked at write time). Processes sharing the database each write their newest observation and
 * the upsert keeps the newer one (by `last_checked_at`).
 */
import diagnostics from "node:diagnostics_channel";
import type { Logger } from "../observability";
import { rateLimitRemaining } from "../observability";
import type { Sql } from "../scheduler";

export interface Observation {
  status: "UP" | "DOWN";
  at: Date;
  error: string | null;
  remaining: number | null;
}

const MAX_PENDING = 256;

export interface UrlHealthRecorderOptions {
  sql: Sql;
  log: Logger;
  /** The configured registries' urls; requests to other origins (token servers, redirects) are not recorded. */
  upstreamUrls(): Promise<Iterable<string>>;
  /** Longest delay before an unchanged observation is written (default 10 s). */
  flushMs?: number;
}

/** Subscribes to undici's channels; returns `stop`, which writes what is pending and unsubscribes. */
export function recordUrlHealth(o: UrlHealthRecorderOptions): { stop(): Promise<void> } {
  const flushMs = o.flushMs ?? 10_000;
  const written = new Map<string, Observation>();
  const pending = new Map<string, Observation>();
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  /**
   * The registries' origins as of the last look. Other origins (token servers, a CDN that blob
   * GETs redirect to) never trigger an immediate write; they wait for the periodic flush, which
   * looks again (so a registry created since is picked up) and drops them.
   */
  let known = new Set<string>();
  const refreshKnown = async () => {
    known = new Set([...(await o.upstreamUrls())].map((u) => new URL(u).origin));
  };
  void refreshKnown().catch(() => undefined);

  const flush = () => {
    timer = null;
    const batch = [...pending];
    pending.clear();
    flushing = flushing.then(async () => {
      try {
        await refreshKnown();
      } catch (err) {
        o.log.warn({ err }, "recording upstream url health: registries unavailable");
        return;
      }
      for (const [origin, ob] of batch) {
        if (!known.has(origin)) continue;
        try {
          await writeUrlHealth(o.sql, origin, ob);
          written.set(origin, ob);
        } catch (err) {
          o.log.warn({ err, origin }, "recording upstream url health failed");
        }
      }
    });
  };

  const observe = (rawOrigin: string | URL | undefined, ob: Omit<Observation, "at">) => {
    if (!rawOrigin) return;
    const origin = new URL(typeof rawOrigin === "string" ? rawOrigin : rawOrigin.origin).origin;
    // Bounded: origins are filtered at flush time, and a process talks to few of them.
    if (!pending.has(origin) && pending.size >= MAX_PENDING) return;
    const prev = pending.get(origin) ?? written.get(origin);
    const next: Observation = { ...ob, at: new Date(), remaining: ob.remaining ?? prev?.remaining ?? null };
    pending.set(origin, next);
    const changed = known.has(origin) && (!prev || prev.status !== next.status || prev.error !== next.error || prev.remaining !== next.remaining);
    if (changed) {
      if (timer) clearTimeout(timer);
      timer = setTimeout(flush, 0);
    } else if (!timer) {
      timer = setTimeout(flush, flushMs);
      timer.unref();
    }
  };

  const onHeaders = (message: unknown) => {
    try {
      const { request, response } = message as { request: { origin?: string | URL }; response: { statusCode: number; statusText?: string; headers?: Array<Buffer | string> } };
      const code = response.statusCode;
      const remaining = rateLimitRemaining(response.headers ?? []) ?? null;
      if (code >= 500) observe(request.origin, { status: "DOWN", error: `HTTP ${code}${response.statusText ? ` ${response.statusText}` : ""}`, remaining });
      else observe(request.origin, { status: "UP", error: code === 429 ? "HTTP 429: rate limited" : null, remaining });
    } catch {
      // Health must never break a request.
    }
  };
  const onError = (message: unknown) => {
    try {
      const { request, error } = message as { request: { origin?: string | URL }; error: unknown };
      if (isAbort(error)) return;
      observe(request.origin, { status: "DOWN", error: describeNetworkError(error), remaining: null });
    } catch {
      // as above
    }
  };
  const headers = diagnostics.channel("undici:request:headers");
  const errors = diagnostics.channel("undici:request:error");
  headers.subscribe(onHeaders);
  errors.subscribe(onError);
  return {
    stop: async () => {
      headers.unsubscribe(onHeaders);
      errors.unsubscribe(onError);
      if (timer) clearTimeout(timer);
      flush();
      await flushing;
    },
  };
}

/**
 * Writes one origin's observation. Processes sharing the database each write their newest one;
 * the upsert keeps the newer (by `last_checked_at`).
 */
export async function writeUrlHealth(sql: Sql, origin: string, ob: Observation): Promise<void> {
  await sql.query(
    `INSERT INTO upstream_url_health (origin, status, last_checked_at, last_error, rate_limit_remaining)
     VALUES ($1, $2, $3::timestamptz, $4, $5::int)
     ON CONFLICT (origin) DO UPDATE SET status = EXCLUDED.status, last_checked_at = EXCLUDED.last_checked_at,
       last_error = EXCLUDED.last_error,
       rate_limit_remaining = COALESCE(EXCLUDED.rate_limit_remaining, upstream_url_health.rate_limit_remaining)
     WHERE upstream_url_health.last_checked_at <= EXCLUDED.last_checked_at
     RETURNING origin`,
    origin,
    ob.status,
    ob.at.toISOString(),
    ob.error,
    ob.remaining,
  );
}

function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null;
  return e?.name === "AbortError" || e?.name === "TimeoutError" || e?.code === "UND_ERR_ABORTED" || e?.code === "ABORT_ERR";
}

/**
 * `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5000`. undici's messages name hosts and ports,
 * not paths; anything after a `?` and any `user:pass@` is cut anyway, so no signed url or
 * credential can reach the API.
 */
export function describeNetworkError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : "ERROR";
  const raw = typeof e?.message === "string" ? e.message : typeof e?.cause?.message === "string" ? e.cause.message : "";
  const message = raw.replace(/\?\S*/g, "?…").replace(/\/\/[^\s/@]+@/g, "//").slice(0, 200);
  return message ? `${code}: ${message}` : code;
}
