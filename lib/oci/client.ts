/**
 * RegistryClient: one upstream registry URL, one undici dispatcher, every request through the
 * layer stack retry → status → observe → auth → limit → redirect → base. No database, no
 * framework: the sync engine, on-demand pulls and the UI's "test connection" all use this.
 */
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { Authenticator, authLayer } from "./auth";
import { CATALOG_SCOPE, repositoryScope } from "./auth-challenge";
import { verifiedBlobStream, type BlobStream } from "./blob-stream";
import { referrersTag } from "./cosign";
import { helperCredentials, staticCredentials, type CredentialSource } from "./credentials";
import { dockerConfigCredentials } from "./docker-config";
import { keepAliveAfterHead } from "./keep-alive";
import { createDispatcher } from "./dispatcher";
import { errorFromTransport, isOciError, OciError, redactUrl } from "./errors";
import { observeLayer, redirectLayer, statusLayer } from "./layers";
import { limitLayer, RequestLimiter } from "./limiter";
import { parseManifest, readCapped, resolveMediaType, verifyManifestDigest, type Descriptor, type ParsedManifest } from "./manifest";
import { bareMediaType, MANIFEST_ACCEPT, MediaTypes } from "./media-types";
import { parseClientOptions, type RegistryClientOptions, type ResolvedClientOptions, type RetryInfo } from "./options";
import { pages, parseNextLink } from "./paging";
import { parseRateLimit, type RateLimitInfo } from "./rate-limit";
import { isDigest, parseManifestRef, validateDigest, validateRepository } from "./reference";
import { parseRetryAfter, retryLayer, withRetry } from "./retry";
import { baseSend, compose, discard, header, type OciRequest, type OciResponse, type Send } from "./transport";

/** What HEAD (or a cheap GET) tells about a manifest. */
export interface ManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
}

/** A fetched and verified manifest. */
export interface FetchedManifest extends ManifestInfo {
  bytes: Buffer;
  parsed: ParsedManifest;
}

/** Result of `ping()`. */
export interface PingResult {
  /** The auth scheme the registry uses (`none` when /v2/ is open). */
  auth: "none" | "basic" | "bearer";
  /** `Docker-Distribution-API-Version`, when sent. */
  apiVersion?: string;
}

/** Referrers of a subject and how they were found. */
export interface ReferrersResult {
  descriptors: Descriptor[];
  /** `api` (OCI referrers endpoint) or `tag-schema` (the `sha256-<hex>` fallback tag). */
  source: "api" | "tag-schema";
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of `referrers()`. */
export interface ReferrersOptions extends CallOptions {
  artifactType?: string;
  /**
   * Every tag of the repository, listed by the caller just before (periodic sync lists them
   * anyway). The `sha256-<hex>` fallback tag is then read only when it is among them: one request
   * less per image on registries without the referrers API.
   */
  knownTags?: ReadonlySet<string>;
}

/**
 * How long a client goes straight to the tag schema after the referrers endpoint answered 404 or
 * something that is not an index. OCI 1.1 forbids a registry that implements the API to answer
 * 404 for a repository that exists, so the answer holds for the registry, not one image; it is
 * asked again after this long in case the registry was upgraded.
 */
const REFERRERS_API_RECHECK_MS = 10 * 60_000;

/** A client for one upstream registry URL. */
export class RegistryClient {
  /** The registry root URL. */
  readonly url: URL;
  private readonly options: ResolvedClientOptions;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly auth: Authenticator;
  private readonly send: Send;
  /** `send` without the retry layer: for requests retried together with their body. */
  private readonly sendOnce: Send;
  private lastRateLimit: RateLimitInfo | undefined;
  /** Until when the referrers API is taken as missing (see REFERRERS_API_RECHECK_MS). */
  private referrersApiMissingUntil = 0;
  /** Whether the referrers API ever answered; until it has, one call at a time asks (see `referrers`). */
  private referrersApiSeen = false;
  /** The call currently finding out whether the referrers API exists; others wait for its answer. */
  private referrersProbe: Promise<void> | null = null;
  private closed = false;

  constructor(options: RegistryClientOptions) {
    this.options = parseClientOptions(options);
    const o = this.options;
    this.url = new URL(o.url);
    this.ownsDispatcher = o.dispatcher === undefined;
    this.dispatcher = o.dispatcher ?? createDispatcher(o);
    let source: CredentialSource;
    if (o.credentialHelper) source = helperCredentials(o.credentialHelper, this.url.origin);
    else if (o.dockerConfig !== undefined) source = dockerConfigCredentials(this.url.host, o.dockerConfig === true ? undefined : o.dockerConfig);
    else source = staticCredentials(o.credentials);
    this.auth = new Authenticator(this.url, source, this.dispatcher, o.timeouts, o.userAgent);
    const base = baseSend(keepAliveAfterHead(this.dispatcher), o.timeouts, o.userAgent);
    const limiter = new RequestLimiter(o.maxConcurrentRequests, o.requestsPerSecond);
    this.onRetry = o.onRetry
      ? (err, delayMs, attempt) =>
          safeNotify(o.onRetry!, { what: err.message.slice(0, 200), code: err.code, ...(err.status !== undefined ? { status: err.status } : {}), retry: attempt + 1, maxRetries: o.retry.maxRetries, delayMs, kind: "request" })
      : undefined;
    this.sendOnce = compose(
      base,
      statusLayer(),
      observeLayer((res) => {
        if (res.url.origin !== this.url.origin) return;
        const info = parseRateLimit(res.headers);
        if (info) this.lastRateLimit = info;
        // 429 (or 503 with Retry-After) pauses the whole client, capped so a registry asking for
        // hours cannot park every worker: past the cap the request fails and the task is retried.
        const retryAfter = parseRetryAfter(header(res.headers, "retry-after"));
        if (res.status === 429 || (res.status === 503 && retryAfter !== undefined)) {
          limiter.holdUntil(Date.now() + Math.min(retryAfter ?? o.retry.retryDelayMs, o.retry.maxRetryDelayMs));
        }
      }),
      authLayer(this.auth),
      limitLayer(limiter),
      redirectLayer(),
    );
    this.send = retryLayer(o.retry, this.onRetry)(this.sendOnce);
  }

  private readonly onRetry: ((err: OciError, delayMs: number, attempt: number) => void) | undefined;

  /**
   * A small document (manifest, tag or catalog page, referrers index) read whole, retried as a
   * unit: a connection that drops in the middle of the body is as retryable as one that drops
   * before the headers, and must not surface as a raw undici error (INTERNAL, no retry).
   */
  private document(req: OciRequest, max: number, tooLarge?: () => OciError): Promise<{ res: OciResponse; bytes: Buffer }> {
    this.check();
    return withRetry(
      this.options.retry,
      async () => {
        const res = await this.sendOnce(req);
        try {
          const bytes = await readCapped(res.body, max, header(res.headers, "content-length"), req.what, tooLarge);
          return { res, bytes };
        } catch (err) {
          res.body.destroy();
          throw errorFromTransport(err, `${req.what} (${redactUrl(res.url)})`);
        }
      },
      { ...(req.signal ? { signal: req.signal } : {}), ...(this.onRetry ? { onRetry: this.onRetry } : {}) },
    );
  }

  private fetchPage = async (req: OciRequest): Promise<{ headers: OciResponse["headers"]; bytes: Buffer }> => {
    const max = 32 * 1024 * 1024;
    const { res, bytes } = await this.document(req, max, () => new OciError("INVALID_RESPONSE", `${req.what}: page is larger than ${max} bytes`));
    return { headers: res.headers, bytes };
  };

  /** The registry host (with port), e.g. `registry-1.docker.io`. */
  get host(): string {
    return this.url.host;
  }

  /** The last rate-limit headers the registry sent, if any. */
  get rateLimit(): RateLimitInfo | undefined {
    return this.lastRateLimit;
  }

  /** Checks that the registry answers the v2 API with the configured credentials ("test connection"). */
  async ping(opts: CallOptions = {}): Promise<PingResult> {
    const res = await this.request({ url: this.v2(""), method: "GET", what: "ping", ...sig(opts) });
    discard(res.body);
    this.auth.markOpen();
    const kind = this.auth.schemeKind;
    const apiVersion = header(res.headers, "docker-distribution-api-version");
    return { auth: kind === "basic" || kind === "bearer" ? kind : "none", ...(apiVersion ? { apiVersion } : {}) };
  }

  /** Pages of repository names from `/v2/_catalog`. */
  catalog(opts: CallOptions & { pageSize?: number } = {}): AsyncGenerator<string[]> {
    const first = this.v2("_catalog");
    const n = opts.pageSize ?? this.options.pageSize;
    if (n) first.searchParams.set("n", String(n));
    return pages(this.fetchPage, { first, key: "repositories", scope: CATALOG_SCOPE, what: "catalog", maxPages: this.options.maxPages, ...sig(opts) });
  }

  /** Every repository in the catalog. */
  async listRepositories(opts: CallOptions & { pageSize?: number } = {}): Promise<string[]> {
    const out: string[] = [];
    for await (const page of this.catalog(opts)) out.push(...page);
    return out;
  }

  /** Pages of tags of `repository`. */
  tagPages(repository: string, opts: CallOptions & { pageSize?: number } = {}): AsyncGenerator<string[]> {
    this.check();
    validateRepository(repository);
    const first = this.v2(`${repository}/tags/list`);
    const n = opts.pageSize ?? this.options.pageSize;
    if (n) first.searchParams.set("n", String(n));
    return pages(this.fetchPage, { first, key: "tags", scope: repositoryScope(repository), what: `tags of ${repository}`, maxPages: this.options.maxPages, maxItems: this.options.maxTags, ...sig(opts) });
  }

  /** Every tag of `repository`. */
  async listTags(repository: string, opts: CallOptions & { pageSize?: number } = {}): Promise<string[]> {
    const out: string[] = [];
    for await (const page of this.tagPages(repository, opts)) out.push(...page);
    return out;
  }

  /**
   * Digest, media type and size of a manifest with one HEAD. Registries that omit
   * `Docker-Content-Digest` on HEAD for a tag cost a GET instead.
   */
  async headManifest(repository: string, ref: string, opts: CallOptions = {}): Promise<ManifestInfo> {
    validateRepository(repository);
    parseManifestRef(ref);
    const what = `HEAD manifest ${repository}:${ref}`;
    const res = await this.request({
      url: this.v2(`${repository}/manifests/${ref}`),
      method: "HEAD",
      headers: { accept: MANIFEST_ACCEPT },
      scope: repositoryScope(repository),
      what,
      notFoundCode: "MANIFEST_UNKNOWN",
      ...sig(opts),
    });
    discard(res.body);
    const headerDigest = header(res.headers, "docker-content-digest");
    const mediaType = bareMediaType(header(res.headers, "content-type"));
    const length = header(res.headers, "content-length");
    if (isDigest(ref) && headerDigest && headerDigest !== ref) {
      throw new OciError("DIGEST_MISMATCH", `${what}: registry says ${headerDigest}`);
    }
    const digest = isDigest(ref) ? ref : headerDigest;
    if (!digest || !mediaType || length === undefined || mediaType === "application/json" || mediaType === "text/plain") {
      const m = await this.getManifest(repository, ref, opts);
      return { digest: m.digest, mediaType: m.mediaType, size: m.size };
    }
    return { digest, mediaType, size: Number(length) };
  }

  /**
   * Fetches a manifest by tag or digest with the full Accept list, capped at `maxManifestBytes`
   * and verified against the requested digest and `Docker-Content-Digest`.
   */
  async getManifest(repository: string, ref: string, opts: CallOptions & { accept?: string[] } = {}): Promise<FetchedManifest> {
    validateRepository(repository);
    parseManifestRef(ref);
    const what = `GET manifest ${repository}${isDigest(ref) ? "@" : ":"}${ref}`;
    const { res, bytes } = await this.document(
      {
        url: this.v2(`${repository}/manifests/${ref}`),
        method: "GET",
        headers: { accept: opts.accept?.join(", ") ?? MANIFEST_ACCEPT },
        scope: repositoryScope(repository),
        what,
        notFoundCode: "MANIFEST_UNKNOWN",
        ...sig(opts),
      },
      this.options.maxManifestBytes,
    );
    const digest = verifyManifestDigest(bytes, ref, header(res.headers, "docker-content-digest"), what);
    const mediaType = resolveMediaType(header(res.headers, "content-type"), bytes);
    const parsed = parseManifest(bytes, mediaType, what);
    return { digest, mediaType, size: bytes.length, bytes, parsed };
  }

  /**
   * A blob as a verifying stream: it errors with DIGEST_MISMATCH or SIZE_MISMATCH instead of
   * ending when the bytes are wrong, and resumes with Range after a dropped connection.
   */
  async getBlob(repository: string, digest: string, opts: CallOptions & { expectedSize?: number; verifyDigest?: boolean; onChunk?: (bytes: number) => void } = {}): Promise<BlobStream> {
    validateRepository(repository);
    validateDigest(digest);
    if (opts.expectedSize !== undefined && (!Number.isSafeInteger(opts.expectedSize) || opts.expectedSize < 0)) {
      throw new OciError("OPTIONS_INVALID", "expectedSize must be a non-negative integer");
    }
    const what = `GET blob ${repository}@${digest}`;
    const req: OciRequest = {
      url: this.v2(`${repository}/blobs/${digest}`),
      method: "GET",
      scope: repositoryScope(repository),
      what,
      notFoundCode: "BLOB_UNKNOWN",
      ...sig(opts),
    };
    const first = await this.request(req);
    return verifiedBlobStream({
      digest,
      expectedSize: opts.expectedSize,
      first,
      reopen: (offset) => this.request({ ...req, headers: { range: `bytes=${offset}-` } }),
      retry: this.options.retry,
      what,
      ...(opts.verifyDigest === false ? { verifyDigest: false } : {}),
      ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
      ...(this.options.onRetry ? { onResume: (err: OciError, delayMs: number, n: number) => safeNotify(this.options.onRetry!, { what, code: err.code, retry: n, maxRetries: this.options.retry.maxRetries, delayMs, kind: "resume" }) } : {}),
      ...sig(opts),
    });
  }

  /** A small blob (config, signature payload) read fully and verified; refuses more than `maxBytes`. */
  async getBlobBytes(repository: string, digest: string, opts: CallOptions & { expectedSize?: number; maxBytes?: number } = {}): Promise<Buffer> {
    const max = opts.maxBytes ?? 16 * 1024 * 1024;
    if (opts.expectedSize !== undefined && opts.expectedSize > max) {
      throw new OciError("SIZE_MISMATCH", `blob ${digest} is ${opts.expectedSize} bytes, more than the ${max}-byte limit for in-memory reads`);
    }
    const stream = await this.getBlob(repository, digest, opts);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as Readable) {
      size += (chunk as Buffer).length;
      if (size > max) {
        stream.destroy();
        throw new OciError("SIZE_MISMATCH", `blob ${digest} is more than the ${max}-byte limit for in-memory reads`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, size);
  }

  /**
   * Manifests that refer to `digest` (signatures, SBOMs, attestations), optionally filtered by
   * artifactType. Uses the OCI referrers API and falls back to the `sha256-<hex>` tag schema when
   * the registry does not implement it.
   */
  async referrers(repository: string, digest: string, opts: ReferrersOptions = {}): Promise<ReferrersResult> {
    validateRepository(repository);
    validateDigest(digest);
    const filter = (ds: Descriptor[]) => (opts.artifactType ? ds.filter((d) => d.artifactType === opts.artifactType) : ds);
    // Tags and index children look up referrers concurrently; without this, every one of the
    // first wave would ask a registry that lacks the API before the first 404 is remembered.
    while (this.referrersProbe) await this.referrersProbe;
    if (Date.now() >= this.referrersApiMissingUntil) {
      let release: (() => void) | undefined;
      if (!this.referrersApiSeen) this.referrersProbe = new Promise<void>((r) => (release = r));
      try {
        const descriptors = await this.referrersApi(repository, digest, opts, filter);
        this.referrersApiSeen = true;
        return { descriptors, source: "api" };
      } catch (err) {
        if (!isOciError(err) || !["NOT_FOUND", "UNSUPPORTED", "UPSTREAM_4XX", "NAME_UNKNOWN", "MANIFEST_UNKNOWN"].includes(err.code) || err.status === 401 || err.status === 403) {
          throw err;
        }
        // A plain 404 (no registry error code: no such route) or a non-index answer says the
        // registry lacks the API; MANIFEST_UNKNOWN/NAME_UNKNOWN may be about this image only.
        if (err.code === "NOT_FOUND" || err.code === "UNSUPPORTED") this.referrersApiMissingUntil = Date.now() + REFERRERS_API_RECHECK_MS;
        else this.referrersApiSeen = true; // an answer about this image: the route exists
      } finally {
        if (release) {
          this.referrersProbe = null;
          release();
        }
      }
    }
    const tag = referrersTag(digest);
    if (opts.knownTags && !opts.knownTags.has(tag)) return { descriptors: [], source: "tag-schema" };
    try {
      const m = await this.getManifest(repository, tag, sig(opts));
      return { descriptors: m.parsed.kind === "index" ? filter(m.parsed.index.manifests) : [], source: "tag-schema" };
    } catch (err) {
      if (isOciError(err) && (err.code === "MANIFEST_UNKNOWN" || err.code === "NOT_FOUND" || err.code === "NAME_UNKNOWN")) {
        return { descriptors: [], source: "tag-schema" };
      }
      throw err;
    }
  }

  /** The OCI referrers endpoint, all pages. */
  private async referrersApi(repository: string, digest: string, opts: ReferrersOptions, filter: (ds: Descriptor[]) => Descriptor[]): Promise<Descriptor[]> {
    let url = this.v2(`${repository}/referrers/${digest}`);
    if (opts.artifactType) url.searchParams.set("artifactType", opts.artifactType);
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    const what = `referrers of ${repository}@${digest}`;
    for (let page = 0; ; page++) {
      if (page >= this.options.maxPages) throw new OciError("PAGING_LIMIT", `${what}: stopped after ${this.options.maxPages} pages`);
      seen.add(url.href);
      const { res, bytes } = await this.document({ url, method: "GET", headers: { accept: MediaTypes.ociIndex }, scope: repositoryScope(repository), what, ...sig(opts) }, this.options.maxManifestBytes);
      const ct = bareMediaType(header(res.headers, "content-type"));
      if (ct && ct !== MediaTypes.ociIndex && ct !== "application/json") {
        // Something (a UI, a proxy) answered that is not the referrers API.
        throw new OciError("UNSUPPORTED", `${what}: answer is ${ct}, not an OCI index`);
      }
      const parsed = parseManifest(bytes, MediaTypes.ociIndex, what);
      if (parsed.kind !== "index") throw new OciError("INVALID_RESPONSE", `${what}: answer is not an index`);
      const filtered = header(res.headers, "oci-filters-applied")?.includes("artifactType");
      out.push(...(filtered ? parsed.index.manifests : filter(parsed.index.manifests)));
      const target = parseNextLink(header(res.headers, "link"));
      if (!target) return out;
      const nextUrl = new URL(target, url);
      if (nextUrl.origin !== this.url.origin || seen.has(nextUrl.href)) return out;
      url = nextUrl;
    }
  }

  /** Closes the client's own dispatcher (a dispatcher passed in is the caller's to close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private check(): void {
    if (this.closed) throw new OciError("OPTIONS_INVALID", `client for ${this.url.host} is closed`);
  }

  private request(req: OciRequest): ReturnType<Send> {
    this.check();
    return this.send(req);
  }

  private v2(path: string): URL {
    return new URL(`/v2/${path}`, this.url);
  }
}

function safeNotify(fn: (info: RetryInfo) => void, info: RetryInfo): void {
  try {
    fn(info);
  } catch {
    // an observer must never break a request
  }
}

function sig(opts: CallOptions): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {};
}
