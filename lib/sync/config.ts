/**
 * The registry configuration, the seed's `RegistryConfig` in zod. Parsed once (at boot, or when the
 * UI saves a registry); a bad entry fails with every problem listed and each named by its field
 * path (`content[1].tags.regex: ...`), because the person reading it is editing that field.
 *
 * Durations accept milliseconds or zot's strings (`"6h"`); the parsed config carries `...Ms`
 * numbers only. Secrets (`credentials`) are part of the input but never of an error message.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import picomatch from "picomatch";
import semver from "semver";
import { z } from "zod";
import { AppError } from "../errors";
import { isRegistryRootUrl } from "../oci";
import { formatDuration, parseDuration } from "./duration";

const duration = (field: string, dflt: number, min = 1) =>
  z
    .union([z.number(), z.string()], { error: `${field} must be a duration such as "30s", "6h" or a number of milliseconds` })
    .transform((v, ctx) => {
      const ms = typeof v === "number" ? v : parseDuration(v);
      if (ms === undefined || !Number.isFinite(ms) || !Number.isInteger(ms)) {
        ctx.addIssue({ code: "custom", message: `${field} must be a duration such as "30s", "6h" or a number of milliseconds` });
        return z.NEVER;
      }
      if (ms < min) {
        ctx.addIssue({ code: "custom", message: `${field} must be at least ${formatDuration(min)}` });
        return z.NEVER;
      }
      return ms;
    })
    .default(dflt);

const regexString = (field: string) =>
  z.string().refine(
    (v) => {
      try {
        new RegExp(v);
        return true;
      } catch {
        return false;
      }
    },
    { error: `${field} is not a valid regular expression` },
  );

const platformString = z
  .string()
  .regex(/^[a-z0-9._-]+\/[a-z0-9._-]+(?:\/[a-z0-9._-]+)?$/i, { error: 'platforms entries look like "linux/amd64" or "linux/arm64/v8"' });

const repoPath = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const tagsSchema = z
  .object({
    /** Only tags matching this regular expression (anchored by the author, as in zot). */
    regex: regexString("tags.regex").optional(),
    /** Tags matching this are dropped (applied after `regex`). */
    excludeRegex: regexString("tags.excludeRegex").optional(),
    /** `true`: only tags that are semantic versions; a string: only versions in that range. */
    semver: z
      .union([z.boolean(), z.string()], { error: "tags.semver must be true/false or a semver range such as \">=1.2 <2\"" })
      .refine((v) => typeof v === "boolean" || semver.validRange(v, { loose: true }) !== null, {
        error: 'tags.semver must be true/false or a semver range such as ">=1.2 <2"',
      })
      .optional(),
    /**
     * Keep only the N newest of the tags left by the filters above: by semantic version (tags that
     * are not versions are dropped), or by the image's `created` time upstream (costs a manifest
     * and config read per candidate tag each round).
     */
    latest: z
      .union([
        z.number().int().positive(),
        z.object({ count: z.number().int().positive({ error: "tags.latest.count must be a positive integer" }), by: z.enum(["semver", "created"]).default("semver") }).strict(),
      ], { error: 'tags.latest must be a positive integer or { count, by: "semver" | "created" }' })
      .transform((v) => (typeof v === "number" ? { count: v, by: "semver" as const } : v))
      .optional(),
  })
  .strict();

const contentRuleSchema = z
  .object({
    /** Glob on the upstream repository name: `*` within one path segment, `**` across segments. */
    prefix: z.string().min(1, { error: "prefix must not be empty (use \"**\" for everything)" }),
    /** Local repository (or folder) the matches land in. */
    destination: z
      .string()
      .transform((v) => v.replace(/^\/+|\/+$/g, ""))
      .refine((v) => v === "" || repoPath.test(v), { error: "destination must be a repository path such as \"mirror/docker\"" })
      .optional(),
    /** Drop the literal part of `prefix` from the name before adding `destination`. */
    stripPrefix: z.boolean().default(false),
    tags: tagsSchema.optional(),
    /** Copy only these platforms of an index (the index is rewritten to list exactly those). */
    platforms: z.array(platformString).min(1, { error: "platforms must list at least one platform, or be left out" }).optional(),
    /**
     * Whether periodic rounds walk the repositories this rule matches. `false`: the rule only maps
     * on-demand pulls (a pull-through `**` that must not drag the whole upstream into rounds).
     * Default true, so existing configs and zot imports keep zot's meaning (one rule set for both).
     */
    periodic: z.boolean().default(true),
  })
  .strict()
  .superRefine((rule, ctx) => {
    try {
      picomatch(rule.prefix.replace(/^\/+/, ""));
    } catch {
      ctx.addIssue({ code: "custom", path: ["prefix"], message: "prefix is not a valid glob" });
    }
    if (rule.stripPrefix && !rule.destination) {
      ctx.addIssue({ code: "custom", path: ["stripPrefix"], message: "stripPrefix needs a destination to put the stripped names under" });
    }
  });

const credentialsSchema = z.union(
  [
    z.object({ username: z.string().min(1), password: z.string() }).strict(),
    z.object({ identityToken: z.string().min(1), username: z.string().optional() }).strict(),
    z.object({ registryToken: z.string().min(1) }).strict(),
  ],
  { error: "credentials must be {username, password}, {identityToken} or {registryToken}" },
);

const urlString = z.string().refine(isRegistryRootUrl, {
  error: "each url must be a registry root such as https://registry.example.com (no path, query or user info)" },
);

export const registryConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/, { error: "name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit" }),
    /** The first url is the primary; the others are tried, in order, only after it fails. */
    urls: z
      .array(urlString, { error: "urls must be a list of registry urls" })
      .min(1, { error: "urls must list at least one registry url" })
      // Failover tries them in turn: a long list is a mistake (or an attack on the health table).
      .max(32, { error: "urls may list at most 32 registry urls" }),
    onDemand: z.boolean().default(false),
    /** Time between periodic rounds; absent means no periodic sync (on-demand only). */
    pollInterval: duration("pollInterval", 0, 1000).optional(),
    tlsVerify: z.boolean().default(true),
    /** PEM CA bundle for the upstream's certificate. */
    caCert: z.string().min(1).optional(),
    /** PEM client certificate and key for mutual TLS. */
    clientCert: z.string().min(1).optional(),
    clientKey: z.string().min(1).optional(),
    credentials: credentialsSchema.optional(),
    /** Read credentials from a Docker config.json (`true` for the default path). */
    dockerConfig: z.union([z.literal(true), z.string().min(1)]).optional(),
    maxRetries: z.number().int().min(0).max(20, { error: "maxRetries must be between 0 and 20" }).default(3),
    retryDelay: duration("retryDelay", 1000),
    maxRetryDelay: duration("maxRetryDelay", 60_000),
    onlySigned: z.boolean().default(false),
    syncLegacyCosignTags: z.boolean().default(true),
    /** Upper bound for one on-demand image sync (`syncImageInBackground`); the scheduler may reuse it per task. */
    syncTimeout: duration("syncTimeout", 3 * 3_600_000, 1000),
    maxConcurrentRequests: z.number().int().min(1).max(256, { error: "maxConcurrentRequests must be between 1 and 256" }).default(8),
    requestsPerSecond: z.number().positive({ error: "requestsPerSecond must be > 0 (leave it out for no limit)" }).optional(),
    /**
     * Store Docker v2 schema 2 manifests and manifest lists as OCI manifests and indexes (their
     * digests change; blobs do not). Default false: digests are preserved.
     */
    convertToOCI: z.boolean().default(false),
    /**
     * On-demand only: how long a mirrored tag is served without asking the upstream whether it
     * moved. Past it, a pull checks upstream first (one HEAD when unchanged); when the upstream is
     * down the cached image is served anyway. 0 checks on every pull.
     */
    manifestCheckInterval: duration("manifestCheckInterval", 5 * 60_000, 0),
    /**
     * A repository whose upstream tag list is longer than this fails with TOO_MANY_TAGS (listing
     * stops there) rather than being cut: a truncated list would silently mirror an arbitrary,
     * lexically first subset, while filters and `tags.latest` need the whole list to be right.
     */
    maxTagsPerRepo: z.number().int().min(1).max(1_000_000, { error: "maxTagsPerRepo must be between 1 and 1000000" }).default(10_000),
    /** Which repositories and tags to mirror; empty means everything, names unchanged. */
    content: z.array(contentRuleSchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.clientCert === undefined) !== (c.clientKey === undefined)) {
      ctx.addIssue({ code: "custom", path: ["clientCert"], message: "clientCert and clientKey must be given together" });
    }
    for (const issue of pemIssues(c)) ctx.addIssue({ code: "custom", ...issue });
    if (c.credentials && c.dockerConfig !== undefined) {
      ctx.addIssue({ code: "custom", path: ["credentials"], message: "give credentials or dockerConfig, not both" });
    }
    if (c.maxRetryDelay < c.retryDelay) {
      ctx.addIssue({ code: "custom", path: ["maxRetryDelay"], message: "maxRetryDelay must be at least retryDelay" });
    }
    const seen = new Set<string>();
    c.urls.forEach((u, i) => {
      const key = new URL(u).origin;
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["urls", i], message: `urls lists ${key} twice` });
      seen.add(key);
    });
  });

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * TLS material is parsed here, when the registry is saved, because a malformed PEM otherwise
 * surfaces only at connect time, far from the form that could show it (and, inside a connector,
 * as an exception rather than a failed request). The key must also match the certificate.
 * Messages never include the material itself.
 */
function pemIssues(c: { caCert?: string; clientCert?: string; clientKey?: string }): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  const certs = (field: "caCert" | "clientCert", pem: string): X509Certificate[] => {
    const blocks = pem.match(PEM_CERT) ?? [];
    if (blocks.length === 0) issues.push({ path: [field], message: `${field} must contain at least one PEM certificate (-----BEGIN CERTIFICATE-----)` });
    const parsed: X509Certificate[] = [];
    blocks.forEach((b, i) => {
      try {
        parsed.push(new X509Certificate(b));
      } catch {
        issues.push({ path: [field], message: `${field}: certificate ${i + 1} is not a valid PEM certificate` });
      }
    });
    return parsed;
  };
  if (c.caCert !== undefined) certs("caCert", c.caCert);
  const [leaf] = c.clientCert !== undefined ? certs("clientCert", c.clientCert) : [];
  if (c.clientKey !== undefined) {
    try {
      const key = createPrivateKey(c.clientKey);
      if (leaf && !leaf.checkPrivateKey(key)) issues.push({ path: ["clientKey"], message: "clientKey does not match clientCert" });
    } catch {
      issues.push({ path: ["clientKey"], message: "clientKey is not a valid PEM private key (an encrypted key is not supported)" });
    }
  }
  return issues;
}

/** What a registry entry may contain (durations as strings or ms). */
export type RegistryConfigInput = z.input<typeof registryConfigSchema>;
/** A validated registry entry with defaults applied and durations in ms. */
export interface RegistryConfig {
  name: string;
  urls: string[];
  onDemand: boolean;
  pollIntervalMs: number | undefined;
  tlsVerify: boolean;
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  credentials?: z.output<typeof credentialsSchema>;
  dockerConfig?: true | string;
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  onlySigned: boolean;
  syncLegacyCosignTags: boolean;
  syncTimeoutMs: number;
  manifestCheckIntervalMs: number;
  maxTagsPerRepo: number;
  maxConcurrentRequests: number;
  requestsPerSecond?: number;
  convertToOCI: boolean;
  content: ContentRule[];
}
/** One `content[]` rule after validation. */
export type ContentRule = z.output<typeof contentRuleSchema>;
/** The tag filters of a rule. */
export type TagFilters = z.output<typeof tagsSchema>;

/** One problem in a registry entry: the field path and what to do. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * Validates a registry entry. Throws AppError CONFIG_INVALID whose message lists every problem
 * as `field: message`, and whose `details.issues` carries them structured (never the values).
 */
export function parseRegistryConfig(input: unknown): RegistryConfig {
  const r = registryConfigSchema.safeParse(input);
  if (!r.success) {
    const issues: ConfigIssue[] = r.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    const name = typeof (input as { name?: unknown } | null)?.name === "string" ? ` "${(input as { name: string }).name}"` : "";
    throw new AppError(
      "CONFIG_INVALID",
      `invalid registry${name}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
      { details: { issues } },
    );
  }
  const { pollInterval, retryDelay, maxRetryDelay, syncTimeout, manifestCheckInterval, ...rest } = r.data;
  return {
    ...rest,
    pollIntervalMs: pollInterval,
    retryDelayMs: retryDelay,
    maxRetryDelayMs: maxRetryDelay,
    syncTimeoutMs: syncTimeout,
    manifestCheckIntervalMs: manifestCheckInterval,
  };
}

/**
 * Just the `content` rules of a stored config (for reads that need the mapping but not the rest,
 * which may need secrets to validate). Throws CONFIG_INVALID like parseRegistryConfig.
 */
export function parseContentRules(input: unknown): ContentRule[] {
  const r = z.array(contentRuleSchema).safeParse(input ?? []);
  if (r.success) return r.data;
  throw new AppError("CONFIG_INVALID", `invalid content rules: ${r.error.issues.map((i) => `content${formatPath(i.path)}: ${i.message}`).join("; ")}`);
}

function formatPath(path: PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}
