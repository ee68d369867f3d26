/**
 * Counts requests to upstream registries without touching the registry client: undici publishes
 * every request's response headers on the `undici:request:headers` diagnostics channel (both the
 * `undici` package and Node's built-in fetch do), so one subscriber sees all of them, retries
 * included. Only origins that belong to a configured registry are counted (token servers and
 * anything else the process talks to are not), and the label is the upstream's host, which the
 * configuration bounds.
 */
import diagnostics from "node:diagnostics_channel";
import type { FerryMetrics } from "./metrics";
import { statusClass } from "./metrics";

interface HeadersMessage {
  request: { origin?: string | URL };
  response: { statusCode: number; headers?: Array<Buffer | string> };
}

/**
 * Subscribes; `upstreamOf(origin)` answers the label for an origin (`https://host:port`) or null
 * to ignore it. Returns the unsubscribe function.
 */
export function observeUpstreamRequests(metrics: FerryMetrics, upstreamOf: (origin: string) => string | null): () => void {
  const channel = diagnostics.channel("undici:request:headers");
  const onMessage = (message: unknown) => {
    try {
      const { request, response } = message as HeadersMessage;
      if (!request?.origin || !response) return;
      const origin = typeof request.origin === "string" ? request.origin : request.origin.origin;
      const upstream = upstreamOf(new URL(origin).origin);
      if (!upstream) return;
      metrics.upstreamRequests.inc({ upstream, status_class: statusClass(response.statusCode) });
      const remaining = rateLimitRemaining(response.headers ?? []);
      if (remaining !== undefined) metrics.upstreamRateLimitRemaining.set({ upstream }, remaining);
    } catch {
      // Metrics must never break a request.
    }
  };
  channel.subscribe(onMessage);
  return () => channel.unsubscribe(onMessage);
}

/** `RateLimit-Remaining: 76;w=21600`, `X-RateLimit-Remaining: 76` or `RateLimit: …, remaining=76`. */
export function rateLimitRemaining(raw: Array<Buffer | string>): number | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    const value = String(raw[i + 1]);
    if (name === "ratelimit-remaining" || name === "x-ratelimit-remaining") {
      const n = Number.parseInt(value, 10);
      if (Number.isFinite(n)) return n;
    }
    if (name === "ratelimit") {
      const m = /remaining=(\d+)/.exec(value);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}
