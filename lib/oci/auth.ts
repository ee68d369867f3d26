/**
 * The auth layer. It learns the registry's scheme from the first 401 (or from `ping`), then adds
 * `Authorization` up front so later requests need no extra round trip:
 *  - Basic: credentials on every request.
 *  - Bearer: a token per scope from the realm (GET with optional Basic; OAuth2 POST form for
 *    identity tokens, or when the realm refuses GET), cached until expiry.
 * A 401 despite a token evicts it and retries once with a fresh token; if that also fails the
 * credential source is asked to refresh once. Nothing here ever puts a secret in an error message.
 */
import type { Dispatcher } from "undici";
import { parseWwwAuthenticate, type AuthChallenge } from "./auth-challenge";
import { credentialIdentity, type CredentialSource, type Credentials } from "./credentials";
import { errorFromStatus, errorFromTransport, OciError, redactUrl } from "./errors";
import { DEFAULT_TOKEN_TTL_S, TokenCache } from "./token-cache";
import { discard, readText, type Layer, type OciRequest, type Timeouts } from "./transport";

type Scheme = { kind: "unknown" } | { kind: "none" } | { kind: "basic" } | { kind: "bearer"; realm: string; service?: string };

function basicHeader(creds: Credentials | undefined): string | undefined {
  if (!creds || !("password" in creds)) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
}

/** Holds the learned auth scheme, the credential source and the token cache for one registry. */
export class Authenticator {
  private scheme: Scheme = { kind: "unknown" };
  readonly tokens = new TokenCache();

  constructor(
    private readonly registryUrl: URL,
    private readonly source: CredentialSource,
    private readonly dispatcher: Dispatcher,
    private readonly timeouts: Timeouts,
    private readonly userAgent: string,
  ) {}

  /** The scheme learned so far: `unknown` until the registry has been asked. */
  get schemeKind(): Scheme["kind"] {
    return this.scheme.kind;
  }

  /** The Authorization header to send with `req`, if any. */
  async authorizationFor(req: OciRequest, force = false): Promise<string | undefined> {
    if (req.url.origin !== this.registryUrl.origin) return undefined;
    const creds = await this.source.get();
    if (creds && "registryToken" in creds) return `Bearer ${creds.registryToken}`;
    const s = this.scheme;
    if (s.kind === "basic") return basicHeader(creds);
    if (s.kind === "bearer") {
      const scope = req.scope ?? "";
      const key = this.tokenKey(s, scope, creds);
      if (force) this.tokens.delete(key);
      const token = await this.tokens.getOrFetch(key, () => this.fetchToken(s, scope, creds, req.signal));
      return `Bearer ${token}`;
    }
    return undefined;
  }

  /** Learns the scheme from a 401's challenges; returns false when retrying cannot help. */
  learn(challenges: AuthChallenge[]): boolean {
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      const realm = bearer.params.realm!;
      this.scheme = { kind: "bearer", realm, ...(bearer.params.service ? { service: bearer.params.service } : {}) };
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      this.scheme = { kind: "basic" };
      return true;
    }
    return false;
  }

  /** Marks the registry as open (a 200 from /v2/ without credentials). */
  markOpen(): void {
    if (this.scheme.kind === "unknown") this.scheme = { kind: "none" };
  }

  /** Asks the credential source for new credentials after a rejection. */
  async refreshCredentials(): Promise<void> {
    await this.source.refresh();
  }

  /** Whether credentials are configured at all. */
  async hasCredentials(): Promise<boolean> {
    return (await this.source.get()) !== undefined;
  }

  private tokenKey(s: { realm: string; service?: string }, scope: string, creds: Credentials | undefined): string {
    return `${s.realm}\u0000${s.service ?? ""}\u0000${scope}\u0000${credentialIdentity(creds)}`;
  }

  private async fetchToken(
    s: { realm: string; service?: string },
    scope: string,
    creds: Credentials | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ token: string; expiresIn: number; issuedAt?: number }> {
    let realm: URL;
    try {
      realm = new URL(s.realm);
    } catch {
      throw new OciError("INVALID_RESPONSE", `registry ${this.registryUrl.host} sent an invalid token realm`);
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:") {
      throw new OciError("INVALID_RESPONSE", `registry ${this.registryUrl.host} sent a token realm with scheme ${realm.protocol}`);
    }
    if (creds && "identityToken" in creds) {
      return this.postToken(realm, s.service, scope, { grant_type: "refresh_token", refresh_token: creds.identityToken }, signal);
    }
    const url = new URL(realm);
    if (s.service) url.searchParams.set("service", s.service);
    if (scope) url.searchParams.set("scope", scope);
    const headers: Record<string, string> = { "user-agent": this.userAgent, accept: "application/json" };
    const basic = basicHeader(creds);
    if (basic) headers.authorization = basic;
    const res = await this.tokenRequest({ origin: url.origin, path: url.pathname + url.search, method: "GET", headers }, realm, signal);
    if ((res.statusCode === 404 || res.statusCode === 405) && creds && "password" in creds) {
      discard(res.body);
      // Some OAuth2 servers only take the POST form (RFC 6749 password grant).
      return this.postToken(realm, s.service, scope, { grant_type: "password", username: creds.username, password: creds.password }, signal);
    }
    return this.readToken(res, realm);
  }

  private async postToken(
    realm: URL,
    service: string | undefined,
    scope: string,
    fields: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<{ token: string; expiresIn: number; issuedAt?: number }> {
    const form = new URLSearchParams({ ...fields, client_id: "ferry", ...(service ? { service } : {}), ...(scope ? { scope } : {}) });
    const res = await this.tokenRequest(
      {
        origin: realm.origin,
        path: realm.pathname + realm.search,
        method: "POST",
        headers: { "user-agent": this.userAgent, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form.toString(),
      },
      realm,
      signal,
    );
    return this.readToken(res, realm);
  }

  private async tokenRequest(opts: Dispatcher.RequestOptions, realm: URL, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    try {
      return await this.dispatcher.request({ ...opts, signal, headersTimeout: this.timeouts.headersMs, bodyTimeout: this.timeouts.bodyMs });
    } catch (err) {
      throw errorFromTransport(err, `token request to ${redactUrl(realm)}`);
    }
  }

  private async readToken(res: Dispatcher.ResponseData, realm: URL): Promise<{ token: string; expiresIn: number; issuedAt?: number }> {
    const text = await readText(res.body, 1024 * 1024);
    const what = `token server ${redactUrl(realm)}`;
    if (res.statusCode !== 200) {
      const err = errorFromStatus(res.statusCode, what, "", undefined);
      // A 401/403 from the token server means the credentials are wrong; keep the status but say so.
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new OciError("UNAUTHORIZED", `${what} rejected the credentials (HTTP ${res.statusCode})`, { status: res.statusCode });
      }
      throw err;
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new OciError("INVALID_RESPONSE", `${what} answered with invalid JSON`);
    }
    const token = typeof body.token === "string" && body.token ? body.token : typeof body.access_token === "string" ? body.access_token : "";
    if (!token) throw new OciError("INVALID_RESPONSE", `${what} answered without a token`);
    const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S;
    const issuedAt = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : Number.NaN;
    return { token, expiresIn, ...(Number.isNaN(issuedAt) ? {} : { issuedAt }) };
  }
}

/**
 * The auth layer: attach Authorization; on a 401 learn the challenge and retry with a fresh
 * token (or credentials), then once more after asking the credential source to refresh.
 */
export function authLayer(auth: Authenticator): Layer {
  return (next) => async (req) => {
    for (let attempt = 0; ; attempt++) {
      const authorization = await auth.authorizationFor(req, attempt > 0);
      const res = await next(authorization ? { ...req, headers: { ...req.headers, authorization } } : req);
      if (res.status !== 401 || attempt >= 2 || res.url.origin !== req.url.origin) return res;
      if (!auth.learn(parseWwwAuthenticate(res.headers["www-authenticate"]))) return res;
      const hasCreds = await auth.hasCredentials();
      if (authorization === undefined) {
        // We sent nothing: retry with what the challenge asks for, if that can succeed.
        if (auth.schemeKind === "basic" && !hasCreds) return res;
      } else if (attempt === 1 || auth.schemeKind === "basic") {
        // What we sent was rejected again: short-lived credentials may have been rotated.
        if (!hasCreds) return res;
        await auth.refreshCredentials();
        attempt = 1;
      }
      // else: a cached bearer token was rejected (revoked, expired early): fetch a fresh one.
      discard(res.body);
    }
  };
}
