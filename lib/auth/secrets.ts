import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Random bearer secrets (session cookies, API tokens). 32 random bytes: unguessable, so a plain
 * SHA-256 is enough to store them (no salt or slow hash needed, unlike passwords), and lookup by
 * hash is one indexed equality.
 */
export const TOKEN_PREFIX = "ferry_";

export function newSessionSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/**
 * The CSRF token of a session: an HMAC of the (httpOnly) session cookie. A page of this origin
 * gets it from `GET /api/v1/session` and sends it back as `X-CSRF-Token`; another site can neither
 * read the cookie nor that response, so it cannot produce the header. Nothing extra is stored.
 */
export function csrfTokenFor(sessionSecret: string): string {
  return createHmac("sha256", sessionSecret).update("ferry-csrf-v1").digest("base64url");
}

/** Constant-time string comparison. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
