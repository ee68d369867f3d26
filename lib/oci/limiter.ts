/**
 * Per-registry politeness: at most `maxConcurrent` requests in flight and, optionally, at most
 * `requestsPerSecond` started. A slot is held until the response body is finished, because a blob
 * download is the expensive part of a request, not its headers.
 */
import { OciError } from "./errors";
import { sleep } from "./retry";
import type { Layer } from "./transport";

/** FIFO concurrency gate plus an evenly spaced start rate. */
export class RequestLimiter {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private nextStart = 0;
  private heldUntil = 0;

  constructor(
    private readonly maxConcurrent: number,
    private readonly requestsPerSecond?: number,
  ) {}

  /** Requests currently holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Holds every new request until `until` (ms since epoch): the registry said `Retry-After`, and
   * that is about the client, not one request. Without it, the other requests of a sync keep
   * starting while the one that got the 429 waits, and the storm feeds itself (invariant 5).
   */
  holdUntil(until: number): void {
    if (until > this.heldUntil) this.heldUntil = until;
  }

  /** When new requests may start again (0: not held). */
  get holdEndsAt(): number {
    return this.heldUntil;
  }

  /** Waits for a slot (and the rate), returning its release function. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    while (this.heldUntil > Date.now()) await sleep(this.heldUntil - Date.now(), signal);
    if (this.active >= this.maxConcurrent) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new OciError("ABORTED", "request was aborted while waiting for a connection slot"));
        };
        this.waiters.push(wake);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    } else {
      this.active++;
    }
    if (this.requestsPerSecond) {
      const interval = 1000 / this.requestsPerSecond;
      const now = Date.now();
      const start = Math.max(now, this.nextStart);
      this.nextStart = start + interval;
      if (start > now) await new Promise((r) => setTimeout(r, start - now));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // Hand the slot straight to the next waiter so `active` never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.active--;
    };
  }
}

/** The limit layer: a slot per request, released when the body closes (or the request fails). */
export function limitLayer(limiter: RequestLimiter): Layer {
  return (next) => async (req) => {
    const release = await limiter.acquire(req.signal);
    try {
      const res = await next(req);
      if (res.body.destroyed || res.body.readableEnded) release();
      else res.body.once("close", release);
      return res;
    } catch (err) {
      release();
      throw err;
    }
  };
}
