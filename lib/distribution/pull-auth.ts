/**
 * Optional authentication for pulls, in the Docker registry token flow that docker, podman,
 * containerd and skopeo all speak: a request without a token gets 401 with
 * `WWW-Authenticate: Bearer realm=".../v2/token",service="ferry",scope="repository:<name>:pull"`;
 * the client asks that realm for a token with the user's Basic credentials (a password, or an API
 * token in the password field) and retries with `Authorization: Bearer <token>`.
 *
 * Tokens are stateless: an HMAC over `{sub, anon, exp}` with a key derived from Ferry's secret
 * key, valid for a few minutes, so every Ferry process verifies any process's tokens without a
 * lookup. Every signed-in user (viewer and above) may pull everything; repositories matching an
 * `anonymous` glob may be pulled by anyone, with or without a token.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import picomatch from "picomatch";
import { authenticateBasic, parseBasic } from "../auth";
import type { Db } from "../db";
import { AppError } from "../errors";

export interface PullAuthOptions {
  db: Db;
  /** Ferry's secret key; the token key is derived from it. */
  secretKey: Buffer;
  anonymous: string[];
  tokenTtlSeconds: number;
}

export interface PullClaims {
  sub: string;
  anon: boolean;
  exp: number;
}

export const SERVICE = "ferry";

export class PullAuth {
  readonly #key: Buffer;
  readonly #isAnonymous: (repo: string) => boolean;

  constructor(private readonly o: PullAuthOptions) {
    this.#key = createHmac("sha256", o.secretKey).update("ferry:v2-pull-token").digest();
    const matchers = o.anonymous.map((g) => picomatch(g));
    this.#isAnonymous = (repo) => matchers.some((m) => m(repo));
  }

  /** Answers `GET /v2/token`. Without credentials: an anonymous token (anonymous repos only). */
  async issue(headers: IncomingHttpHeaders): Promise<{ token: string; access_token: string; expires_in: number; issued_at: string }> {
    let sub = "anonymous";
    let anon = true;
    if (headers.authorization) {
      const basic = parseBasic(headers.authorization);
      const viewer = basic ? await authenticateBasic(this.o.db, basic.username, basic.secret) : null;
      if (!viewer) throw new AppError("UNAUTHENTICATED", "wrong username, password or token");
      sub = viewer.username;
      anon = false;
    }
    const now = Math.floor(Date.now() / 1000);
    const token = this.#sign({ sub, anon, exp: now + this.o.tokenTtlSeconds });
    return { token, access_token: token, expires_in: this.o.tokenTtlSeconds, issued_at: new Date(now * 1000).toISOString() };
  }

  /** The claims of a valid, unexpired bearer token, or null. */
  verify(authorization: string | undefined): PullClaims | null {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? "");
    if (!m) return null;
    const [payload, mac] = m[1]!.split(".");
    if (!payload || !mac) return null;
    const expected = createHmac("sha256", this.#key).update(payload).digest();
    const given = Buffer.from(mac, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as PullClaims;
      return claims.exp > Date.now() / 1000 ? claims : null;
    } catch {
      return null;
    }
  }

  /**
   * Whether the request may proceed: `repo` null means a registry-wide route (`/v2/`, which any
   * token opens so clients can start the flow; `_catalog`, signed-in users only).
   */
  allows(claims: PullClaims | null, route: { repo: string | null; catalog: boolean }): boolean {
    if (route.repo !== null && this.#isAnonymous(route.repo)) return true;
    if (!claims) return false;
    if (route.repo === null && !route.catalog) return true;
    return !claims.anon;
  }

  /** The 401 challenge for a request to `repo` on `host`. */
  challenge(headers: IncomingHttpHeaders, repo: string | null): string {
    const proto = String(headers["x-forwarded-proto"] ?? "http").split(",")[0]!.trim();
    const realm = `${proto}://${headers.host ?? "localhost"}/v2/token`;
    return `Bearer realm="${realm}",service="${SERVICE}"${repo ? `,scope="repository:${repo}:pull"` : ""}`;
  }

  #sign(claims: PullClaims): string {
    const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${payload}.${createHmac("sha256", this.#key).update(payload).digest("base64url")}`;
  }
}
