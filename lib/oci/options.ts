/**
 * RegistryClient options, validated once at construction. Messages say what to do, because the
 * person reading them is editing a registry entry in Ferry's config or UI.
 */
import { Dispatcher } from "undici";
import { z } from "zod";
import type { CredentialHelper, Credentials } from "./credentials";
import { OciError, type OciErrorCode } from "./errors";

/** One retry (or Range resume of a blob) the client is about to make. */
export interface RetryInfo {
  what: string;
  code: OciErrorCode;
  status?: number;
  /** 1-based number of this retry for the request. */
  retry: number;
  maxRetries: number;
  delayMs: number;
  kind: "request" | "resume";
}

const credentialsSchema = z.union([
  z.object({ username: z.string().min(1, { error: "credentials.username must not be empty" }), password: z.string() }).strict(),
  z.object({ identityToken: z.string().min(1), username: z.string().optional() }).strict(),
  z.object({ registryToken: z.string().min(1) }).strict(),
], { error: "credentials must be {username, password}, {identityToken} or {registryToken}" });

/** An http(s) URL of a registry's root: no path, query or user info (credentials go elsewhere). */
export function isRegistryRootUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === "https:" || u.protocol === "http:") && (u.pathname === "/" || u.pathname === "") && !u.search && !u.username;
  } catch {
    return false;
  }
}

const ms = (what: string, dflt: number) =>
  z.number({ error: `${what} must be a number of milliseconds` }).int().positive({ error: `${what} must be > 0 ms` }).default(dflt);

export const clientOptionsSchema = z
  .object({
    url: z.string().refine(isRegistryRootUrl, {
      error: "url must be the registry root, e.g. https://registry.example.com (http:// only for registries without TLS; no path, query or user info)" },
    ),
    dispatcher: z.custom<Dispatcher>((v) => v instanceof Dispatcher || (typeof v === "object" && v !== null && typeof (v as Dispatcher).request === "function"), {
      error: "dispatcher must be an undici Dispatcher (Agent or Pool)",
    }).optional(),
    tls: z
      .object({
        /** Verify the server certificate (default true). */
        verify: z.boolean().default(true),
        /** Extra CA bundle (PEM). */
        ca: z.union([z.string(), z.instanceof(Buffer)]).optional(),
        /** Client certificate (PEM) for mTLS; needs `key`. */
        cert: z.union([z.string(), z.instanceof(Buffer)]).optional(),
        key: z.union([z.string(), z.instanceof(Buffer)]).optional(),
        servername: z.string().optional(),
      })
      .strict()
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { error: "tls.cert and tls.key must be given together for client certificates" })
      .optional(),
    /** `false` ignores HTTPS_PROXY/HTTP_PROXY; an object overrides them. Default: the environment. */
    proxy: z
      .union([z.literal(false), z.object({ httpProxy: z.string().optional(), httpsProxy: z.string().optional(), noProxy: z.string().optional() }).strict()])
      .optional(),
    credentials: credentialsSchema.optional(),
    credentialHelper: z
      .custom<CredentialHelper>(
        (v) =>
          typeof v === "object" &&
          v !== null &&
          ["areCredentialsValid", "getCredentials", "refreshCredentials"].every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
        { error: "credentialHelper must implement areCredentialsValid, getCredentials and refreshCredentials" },
      )
      .optional(),
    /** Read credentials from a Docker config.json: `true` for the default location, or a path. */
    dockerConfig: z.union([z.literal(true), z.string().min(1)]).optional(),
    maxConcurrentRequests: z.number().int().min(1).max(1024, { error: "maxConcurrentRequests must be between 1 and 1024" }).default(8),
    requestsPerSecond: z.number().positive({ error: "requestsPerSecond must be > 0 (omit it for no limit)" }).optional(),
    retry: z
      .object({
        maxRetries: z.number().int().min(0).max(20, { error: "retry.maxRetries must be between 0 and 20" }).default(3),
        retryDelayMs: ms("retry.retryDelayMs", 500),
        maxRetryDelayMs: ms("retry.maxRetryDelayMs", 30_000),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({ connectMs: ms("timeouts.connectMs", 10_000), headersMs: ms("timeouts.headersMs", 30_000), bodyMs: ms("timeouts.bodyMs", 60_000) })
      .strict()
      .prefault({}),
    /** Largest manifest accepted (default 4 MiB, as distribution does). */
    maxManifestBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Page size asked for catalog and tags (`n`); the registry may give fewer. */
    pageSize: z.number().int().min(1).max(10_000).optional(),
    /** Give up paging after this many pages. */
    maxPages: z.number().int().min(1).default(10_000),
    /** A tag list longer than this fails with TOO_MANY_TAGS (paging stops there). */
    maxTags: z.number().int().min(1).default(10_000),
    userAgent: z.string().min(1).default("ferry"),
    /** Told about every retry and blob resume (task history); must not throw. */
    onRetry: z.custom<(info: RetryInfo) => void>((v) => typeof v === "function", { error: "onRetry must be a function" }).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const sources = [o.credentials, o.credentialHelper, o.dockerConfig].filter((x) => x !== undefined).length;
    if (sources > 1) ctx.addIssue({ code: "custom", message: "give only one of credentials, credentialHelper or dockerConfig" });
    if (o.dispatcher && (o.tls || o.proxy !== undefined)) {
      ctx.addIssue({ code: "custom", message: "tls and proxy options configure the client's own Agent: give them or a dispatcher, not both" });
    }
    if (o.retry.maxRetryDelayMs < o.retry.retryDelayMs) {
      ctx.addIssue({ code: "custom", message: "retry.maxRetryDelayMs must be at least retry.retryDelayMs" });
    }
  });

/** What `new RegistryClient(...)` accepts. */
export type RegistryClientOptions = z.input<typeof clientOptionsSchema> & { credentials?: Credentials };
/** Options after defaults. */
export type ResolvedClientOptions = z.output<typeof clientOptionsSchema>;

/** Validates options, throwing OPTIONS_INVALID with every problem listed (never the values). */
export function parseClientOptions(input: unknown): ResolvedClientOptions {
  const r = clientOptionsSchema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message));
  throw new OciError("OPTIONS_INVALID", `invalid registry client options: ${problems.join("; ")}`);
}
