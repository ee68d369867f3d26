/**
 * Webhook signatures. The receiver recomputes HMAC-SHA256 over `<timestamp>.<raw body>` with the
 * shared secret and compares it with `X-Ferry-Signature` (`sha256=<hex>`); the timestamp
 * (`X-Ferry-Timestamp`, unix seconds) is inside the signed text so a captured request cannot be
 * replayed later than the receiver's tolerance. Same scheme as Stripe's and Slack's signatures.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_PREFIX = "sha256=";

/** `sha256=<hex>` for one request: HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return SIGNATURE_PREFIX + createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export interface VerifyOptions {
  /** Reject timestamps further than this from `now` (default 300 s). */
  toleranceSeconds?: number;
  /** Unix seconds (default: the clock). */
  now?: number;
}

/**
 * What a receiver does: true when `signature` is the HMAC of this timestamp and body and the
 * timestamp is recent. Compares in constant time.
 */
export function verifySignature(secret: string, signature: string | null | undefined, timestamp: string | number | null | undefined, body: string, options: VerifyOptions = {}): boolean {
  const ts = typeof timestamp === "number" ? timestamp : Number(timestamp);
  if (!signature || !Number.isInteger(ts)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signPayload(secret, ts, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
