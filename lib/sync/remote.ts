/**
 * The upstream of one registry config: one RegistryClient per url. Every operation runs against
 * the primary (first url) first; only when it fails in a way another mirror could fix (network,
 * TLS, timeouts, 5xx, 429) is the next url tried. A url that failed is tried last for
 * `penaltyMs`, so a dead primary does not cost its connect timeout on every request.
 *
 * Answers about content (404, 401/403, digest mismatch) are not failed over: a mirror is a copy of
 * the same content, and a second opinion would hide the real problem.
 */
import type { Dispatcher } from "undici";
import { isOciError, RegistryClient, type CredentialHelper, type RegistryClientOptions, type RetryInfo } from "../oci";
import type { RegistryConfig } from "./config";
import type { TreeOptions } from "./copy-image";
import { getOCIDigest, type OCIDigest } from "./predict-digest";

const FAILOVER_CODES = new Set(["NETWORK", "TIMEOUT", "TLS", "UPSTREAM_5XX", "TOOMANYREQUESTS"]);

/** Whether an error from one url justifies trying the next one. */
export function isFailoverError(err: unknown): boolean {
  return isOciError(err) && FAILOVER_CODES.has(err.code);
}

export interface RemoteOptions {
  credentialHelper?: CredentialHelper;
  /** A shared undici dispatcher (tests, or one Agent for many registries); else each client owns one. */
  dispatcher?: Dispatcher;
  /** How long a failed url is moved to the back of the list. Default 60 s. */
  penaltyMs?: number;
  now?: () => number;
  userAgent?: string;
  /** Told about every client retry and blob resume. */
  onRetry?: (info: RetryInfo) => void;
}

export class Remote {
  readonly clients: RegistryClient[];
  private readonly failedAt = new Map<number, number>();
  private readonly penaltyMs: number;
  private readonly now: () => number;

  constructor(config: RegistryConfig, options: RemoteOptions = {}) {
    this.penaltyMs = options.penaltyMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.clients = config.urls.map((url) => new RegistryClient(clientOptions(config, url, options)));
  }

  /** The primary's host, as the seed's `GetHostName`. */
  get host(): string {
    return this.clients[0]!.host;
  }

  /** Runs `fn` with the primary client, failing over in order on network-class errors. */
  async use<T>(fn: (client: RegistryClient) => Promise<T>, onFailover?: (from: string, to: string, err: unknown) => void): Promise<T> {
    const order = this.order();
    let lastErr: unknown;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const client = this.clients[i]!;
      try {
        const out = await fn(client);
        this.failedAt.delete(i);
        return out;
      } catch (err) {
        lastErr = err;
        if (!isFailoverError(err) || k === order.length - 1) throw err;
        this.failedAt.set(i, this.now());
        onFailover?.(client.host, this.clients[order[k + 1]!]!.host, err);
      }
    }
    throw lastErr;
  }

  /**
   * The seed's `GetOCIDigest(repo, tag)`: the digest `repo:reference` will have in the store after
   * conversion (and platform filtering), the upstream digest, and whether they differ. Reads
   * manifests only.
   */
  async getOCIDigest(repo: string, reference: string, opts: TreeOptions & { signal?: AbortSignal } = {}): Promise<OCIDigest> {
    const r = await this.use((c) => getOCIDigest(c, repo, reference, opts));
    return { ociDigest: r.ociDigest, upstreamDigest: r.upstreamDigest, converted: r.converted, mediaType: r.mediaType, size: r.size };
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  /** Config order, with urls that failed recently moved to the back (still in config order). */
  private order(): number[] {
    const now = this.now();
    const healthy: number[] = [];
    const penalised: number[] = [];
    this.clients.forEach((_, i) => {
      const at = this.failedAt.get(i);
      if (at !== undefined && now - at < this.penaltyMs) penalised.push(i);
      else healthy.push(i);
    });
    return [...healthy, ...penalised];
  }
}

function clientOptions(config: RegistryConfig, url: string, options: RemoteOptions): RegistryClientOptions {
  const o: RegistryClientOptions = {
    url,
    maxConcurrentRequests: config.maxConcurrentRequests,
    maxTags: config.maxTagsPerRepo,
    retry: { maxRetries: config.maxRetries, retryDelayMs: config.retryDelayMs, maxRetryDelayMs: config.maxRetryDelayMs },
    ...(config.requestsPerSecond !== undefined ? { requestsPerSecond: config.requestsPerSecond } : {}),
    ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  };
  if (options.dispatcher) o.dispatcher = options.dispatcher;
  else if (!config.tlsVerify || config.caCert || config.clientCert) {
    o.tls = {
      verify: config.tlsVerify,
      ...(config.caCert ? { ca: config.caCert } : {}),
      ...(config.clientCert && config.clientKey ? { cert: config.clientCert, key: config.clientKey } : {}),
    };
  }
  if (options.credentialHelper) o.credentialHelper = options.credentialHelper;
  else if (config.credentials) o.credentials = config.credentials;
  else if (config.dockerConfig !== undefined) o.dockerConfig = config.dockerConfig;
  return o;
}
