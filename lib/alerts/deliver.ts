/**
 * One HTTP attempt to deliver an event: a POST of the JSON payload, signed, on a dedicated undici
 * Agent (never the global dispatcher), bounded by the webhook's timeout. Redirects are not
 * followed: a receiver that moved must be re-configured, not chased (a redirect could point the
 * signed alert anywhere).
 */
import { Agent, request } from "undici";
import type { AlertPayload } from "./evaluate";
import type { Webhook } from "./webhooks";

export interface AttemptResult {
  ok: boolean;
  /** Worth another attempt: network errors, timeouts, 5xx, 408 and 429. */
  retryable: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export function createAlertAgent(): Agent {
  // Short keep-alive: alerts are rare, idle sockets to receivers are not worth keeping.
  return new Agent({ keepAliveTimeout: 4000, keepAliveMaxTimeout: 10_000, connections: 4 });
}

export const USER_AGENT = "Ferry-Alerts/1";

export async function postEvent(agent: Agent, webhook: Webhook, payload: AlertPayload, attempt: number, signal: AbortSignal): Promise<AttemptResult> {
  const body = JSON.stringify(payload);
  const timestamp = Math.floor(Date.now() / 1000);
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  try {
    const res = await request(webhook.url, {
      method: "POST",
      dispatcher: agent,
      headers: {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "x-ferry-event": payload.type,
        "x-ferry-delivery": payload.id,
        "x-ferry-attempt": String(attempt),
        "x-ferry-timestamp": String(timestamp),
        "x-ferry-signature": webhook.sign(timestamp, body),
      },
      body,
      headersTimeout: webhook.timeoutMs,
      bodyTimeout: webhook.timeoutMs,
      signal: AbortSignal.any([signal, AbortSignal.timeout(webhook.timeoutMs)]),
    });
    // The answer's body is not used; read a little of it so the socket can be reused.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const s = res.statusCode;
    if (s >= 200 && s < 300) return { ok: true, retryable: false, statusCode: s, error: null, durationMs: elapsed() };
    const error = s >= 300 && s < 400 ? `HTTP ${s}: redirects are not followed` : `HTTP ${s}`;
    return { ok: false, retryable: s >= 500 || s === 408 || s === 429, statusCode: s, error, durationMs: elapsed() };
  } catch (err) {
    if (signal.aborted) throw err;
    const e = err as Error & { code?: string };
    const error = e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT" ? `timed out after ${webhook.timeoutMs} ms` : `${e.code ?? e.name}: ${e.message}`;
    return { ok: false, retryable: true, statusCode: null, error, durationMs: elapsed() };
  }
}
