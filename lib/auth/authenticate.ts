import type { Db } from "../db";
import { AppError } from "../errors";
import { resolveApiToken } from "./api-tokens";
import { safeEqual } from "./secrets";
import { resolveSession } from "./sessions";
import type { RequestMeta, Viewer } from "./viewer";

export const SESSION_COOKIE = "ferry_session";
export const CSRF_HEADER = "x-csrf-token";

/** The parts of a request authentication looks at (a fetch `Request` fits). */
export interface AuthRequest {
  method: string;
  headers: Headers;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Who sent this request, or null for nobody. Two ways in:
 *
 * - `Authorization: Bearer <API token>`. When the header is present it is the only credential
 *   considered (a bad token is UNAUTHENTICATED, never a fallback to the cookie). Browsers do not
 *   attach it by themselves, so such requests need no CSRF defence.
 * - The `ferry_session` cookie (httpOnly, SameSite=Strict). Browsers do attach cookies, so every
 *   state-changing request (any method but GET/HEAD/OPTIONS — GraphQL POSTs included) must also
 *   carry the session's CSRF token in `X-CSRF-Token` (a synchronizer token derived from the
 *   session secret, see `csrfTokenFor`), and, when the browser says where it comes from
 *   (`Origin`, `Sec-Fetch-Site`), come from this origin. SameSite alone is not enough: it does not
 *   cover sibling subdomains and older browsers; the token alone would be, the origin check is
 *   defence in depth. Missing or wrong: CSRF_REJECTED (403).
 */
export async function authenticate(db: Db, req: AuthRequest): Promise<Viewer | null> {
  const authorization = req.headers.get("authorization");
  if (authorization !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const viewer = m ? await resolveApiToken(db, m[1]!) : null;
    if (!viewer) throw new AppError("UNAUTHENTICATED", "the API token is invalid, expired or revoked");
    return viewer;
  }
  const secret = readCookie(req.headers.get("cookie"), SESSION_COOKIE);
  if (!secret) return null;
  const viewer = await resolveSession(db, secret);
  if (!viewer) return null;
  if (!SAFE_METHODS.has(req.method.toUpperCase())) checkCsrf(req, viewer);
  return viewer;
}

function checkCsrf(req: AuthRequest, viewer: Viewer): void {
  const site = req.headers.get("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") throw new AppError("CSRF_REJECTED", "cross-site request refused");
  const origin = req.headers.get("origin");
  if (origin !== null) {
    const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host");
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = null;
    }
    if (!host || originHost !== host) throw new AppError("CSRF_REJECTED", "request from another origin refused");
  }
  const token = req.headers.get(CSRF_HEADER);
  if (!token || !viewer.csrfToken || !safeEqual(token, viewer.csrfToken)) {
    throw new AppError("CSRF_REJECTED", `missing or wrong ${CSRF_HEADER} header (get it from GET /api/v1/session)`);
  }
}

/** The viewer, or UNAUTHENTICATED. */
export function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw new AppError("UNAUTHENTICATED", "sign in or send an API token (Authorization: Bearer)");
  return viewer;
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      const v = part.slice(i + 1).trim();
      return v === "" ? null : v;
    }
  }
  return null;
}

/**
 * Where a request came from. `x-ferry-remote-addr` is set by Ferry's own HTTP server from the
 * socket (and overwritten when a client sends it); `x-forwarded-for` is a client claim, recorded
 * for the audit log but not trusted for anything else.
 */
export function requestMeta(headers: Headers): RequestMeta {
  const ip = headers.get("x-ferry-remote-addr") ?? headers.get("x-forwarded-for")?.split(",")[0]?.trim() ?? headers.get("x-real-ip") ?? null;
  return { ip: ip ? ip.slice(0, 100) : null, userAgent: headers.get("user-agent")?.slice(0, 300) ?? null };
}

/** A `Set-Cookie` value for the session cookie (or for clearing it with `maxAgeSeconds` 0). */
export function sessionCookie(value: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}
