/**
 * Retries with exponential backoff and full jitter for failures marked `retryable` (5xx, 429,
 * resets, timeouts). `Retry-After` wins over the computed delay; when it asks for longer than
 * `maxRetryDelayMs` we give up at once and hand `retryAfterMs` to the caller (the scheduler can
 * park the task) rather than hold a worker asleep.
 */
import { isOciError, OciError } from "./errors";
import type { Layer } from "./transport";

export interface RetryPolicy {
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

/** Delay before retry number `attempt` (0-based): base·2^attempt capped, jittered to 50-100%. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** attempt);
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Waits `ms`, rejecting with ABORTED when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new OciError("ABORTED", "request was aborted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OciError("ABORTED", "request was aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Decides whether and how long to wait before the next attempt; undefined means give up. */
export function retryDelayFor(err: unknown, policy: RetryPolicy, attempt: number, random?: () => number): number | undefined {
  if (!isOciError(err) || !err.retryable || attempt >= policy.maxRetries) return undefined;
  if (err.retryAfterMs !== undefined) {
    return err.retryAfterMs <= policy.maxRetryDelayMs ? err.retryAfterMs : undefined;
  }
  return backoffDelay(policy, attempt, random);
}

/** Runs `fn` until it succeeds or a failure is not worth retrying. */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  options: { signal?: AbortSignal; onRetry?: (err: OciError, delayMs: number, attempt: number) => void } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delay = retryDelayFor(err, policy, attempt);
      if (delay === undefined) throw err;
      options.onRetry?.(err as OciError, delay, attempt);
      await sleep(delay, options.signal);
    }
  }
}

/** The retry layer: wraps a Send so each request is retried under the policy. */
export function retryLayer(policy: RetryPolicy, onRetry?: (err: OciError, delayMs: number, attempt: number) => void): Layer {
  return (next) => (req) => withRetry(policy, () => next(req), { ...(req.signal ? { signal: req.signal } : {}), ...(onRetry ? { onRetry } : {}) });
}
