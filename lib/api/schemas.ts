/**
 * The API's shapes in zod: REST validates requests with them and the OpenAPI document is
 * generated from them (`z.toJSONSchema`), so the two cannot drift. Response schemas describe the
 * JSON on the wire (dates as ISO strings, 64-bit counters as numbers).
 */
import { z } from "zod";
import { ROLES } from "../auth";
import { registryConfigSchema } from "../sync";

const LIMITS = { maxPage: 200 } as const;

export const registryName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/, { error: "registry names are 1-63 letters, digits, '.', '_' or '-'" });
/** A registry version (Registry.version) an edit is conditional on. */
export const registryVersion = z.number().int().min(1).max(999_999_999);
export const username = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$/, { error: "usernames are 1-64 letters, digits, '.', '_', '@' or '-'" });
/** An OCI repository path (lowercase, `/`-separated), at most 255 characters. */
export const repositoryName = z
  .string()
  .max(255)
  .regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, { error: "repository names are lowercase paths such as library/alpine" });
/** A tag or a digest. */
export const reference = z
  .string()
  .regex(/^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,})$/, { error: "reference must be a tag or a digest" });
export const taskId = z.string().regex(/^\d{1,18}$/, { error: "task ids are decimal numbers" });
export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { error: "expected a UUID" });
export const role = z.enum(ROLES);
const isoDate = z.iso.datetime({ offset: true });
const dateTime = isoDate.nullable();
export const limit = (dflt: number) => z.coerce.number().int().min(1).max(LIMITS.maxPage).default(dflt);

export const TASK_STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const;
export const TASK_KINDS = ["syncRepo", "syncImage", "syncReferrers"] as const;

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details; `code` is Ferry's stable error code" });

// ── registries ──────────────────────────────────────────────────────────────
/**
 * A registry as written by a client: the registry config (as in the config file) plus `enabled`.
 * `credentials` and `clientKey` are write-only. On update, leaving one out keeps the stored
 * value and `null` removes it.
 */
export const registryWriteSchema = z
  .looseObject({ enabled: z.boolean().optional() })
  .meta({ id: "RegistryWrite", description: "Registry config (see RegistryConfig) plus `enabled`; credentials/clientKey write-only (null removes on update)" });

export const registryConfigDoc = registryConfigSchema.meta({ id: "RegistryConfig" });

export const urlHealthSchema = z
  .object({
    url: z.string(),
    status: z.enum(["UP", "DOWN", "UNKNOWN"]).describe("UP: the url answered (below 500) at lastCheckedAt; DOWN: a network error or 5xx; UNKNOWN: not talked to yet"),
    lastCheckedAt: dateTime,
    lastError: z.string().nullable().describe("what failed at the last observation (no secrets); null when it went well"),
    rateLimitRemaining: z.number().int().nullable().describe("the last RateLimit-Remaining the upstream reported"),
  })
  .meta({ id: "RegistryUrlHealth" });

export const registrySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    enabled: z.boolean(),
    config: z.record(z.string(), z.unknown()).describe("the registry config without credentials and clientKey"),
    hasCredentials: z.boolean().describe("credentials or a client key are stored (never returned)"),
    createdAt: isoDate,
    updatedAt: isoDate,
    version: z.number().int().describe("1 at creation, one more on every change; send it as If-Match on PUT to refuse the edit (412) if the registry changed since"),
    urlHealth: z.array(urlHealthSchema).describe("each url's last observed health, shared by all Ferry processes"),
  })
  .meta({ id: "Registry" });

export const generatorSchema = z
  .object({
    registryId: z.string(),
    registryName: z.string(),
    phase: z.enum(["idle", "listing", "syncing", "backing-off", "waiting", "paused"]),
    paused: z.boolean(),
    round: z.number().int(),
    lastRepo: z.string(),
    reposDone: z.number().int(),
    reposQueued: z.number().int(),
    runningTasks: z.number().int(),
    roundStartedAt: dateTime,
    roundEndedAt: dateTime,
    backoffUntil: dateTime,
    waitTimeMs: z.number().int(),
    nextRoundAt: dateTime,
    lastError: z.string().nullable(),
    leaderId: z.string().nullable(),
    updatedAt: isoDate,
  })
  .meta({ id: "Generator" });

// ── tasks ───────────────────────────────────────────────────────────────────
export const taskSchema = z
  .object({
    id: z.string(),
    kind: z.enum(TASK_KINDS),
    registryId: z.string().nullable(),
    registryName: z.string().nullable(),
    repository: z.string(),
    reference: z.string().nullable(),
    priority: z.number().int(),
    status: z.enum(TASK_STATUSES),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    trigger: z.string(),
    runAfter: isoDate,
    queuedAt: isoDate,
    startedAt: dateTime,
    finishedAt: dateTime,
    bytesCopied: z.number(),
    blobsCopied: z.number().int(),
    blobsSkipped: z.number().int(),
    bytesTotal: z.number().nullable(),
    outcomes: z.array(z.record(z.string(), z.unknown())),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
  })
  .meta({ id: "Task" });

export const taskEventSchema = z
  .object({ id: z.string(), at: isoDate, level: z.string(), message: z.string(), data: z.unknown().nullable() })
  .meta({ id: "TaskEvent" });

export const taskDetailSchema = taskSchema.extend({ events: z.array(taskEventSchema) }).meta({ id: "TaskDetail" });

const statusList = z
  .union([z.enum(TASK_STATUSES), z.array(z.enum(TASK_STATUSES)).max(TASK_STATUSES.length)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

export const taskQuerySchema = z
  .object({
    registry: registryName.optional(),
    status: statusList.optional().describe("one status, or several (repeat the parameter)"),
    kind: z.enum(TASK_KINDS).optional(),
    repository: repositoryName.optional(),
    since: z.iso.datetime({ offset: true }).optional().describe("queued at or after"),
    until: z.iso.datetime({ offset: true }).optional().describe("queued before"),
    cursor: taskId.optional().describe("nextCursor from the previous page"),
    limit: limit(50),
  })
  .strict();

export const pageOf = <T extends z.ZodType>(item: T, id: string) => z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id });

export const syncRepositorySchema = z.object({ repository: repositoryName.describe("upstream repository name") }).strict();
export const syncImageSchema = z.object({ repository: repositoryName.describe("upstream repository name"), reference }).strict();

// ── repositories ────────────────────────────────────────────────────────────
export const tagSchema = z
  .object({
    tag: z.string(),
    digest: z.string().nullable(),
    upstreamDigest: z.string().nullable(),
    upstreamRepo: z.string(),
    status: z.string(),
    size: z.number().nullable(),
    platforms: z.array(z.string()),
    lastCheckedAt: dateTime,
    lastSyncedAt: dateTime,
    errorCode: z.string().nullable(),
  })
  .meta({ id: "Tag" });

export const repositorySchema = z
  .object({
    registryName: z.string(),
    repository: z.string(),
    tagCount: z.number().int(),
    size: z.number(),
    lastSyncedAt: dateTime,
    upstreamRepo: z.string().nullable().describe("the upstream repository it is mirrored from"),
    periodic: z.boolean().describe("periodic rounds sync it (else it came on demand or by hand, and can be promoted)"),
    tags: z.array(tagSchema),
  })
  .meta({ id: "Repository" });

export const promoteSchema = z.object({ repository: repositoryName.describe("the local repository (as pulled from Ferry)") }).strict();

export const promotionSchema = z
  .object({
    registry: registrySchema,
    repository: z.string(),
    upstreamRepository: z.string(),
    added: z.boolean().describe("false: periodic rounds already covered it and nothing changed"),
    rule: z.record(z.string(), z.unknown()).describe("the content rule that puts it in periodic rounds"),
  })
  .meta({ id: "Promotion" });

export const tagParamsSchema = z.object({ repo: repositoryName.describe("the local repository, URL-encoded (library%2Falpine)"), tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, { error: "tag must be a tag name" }) }).strict();

export const deletedTagSchema = z
  .object({
    repository: z.string(),
    tag: z.string(),
    digest: z.string().nullable().describe("what the tag pointed at in the store"),
    registries: z.array(z.string()).describe("registries whose sync state for the tag was dropped"),
  })
  .meta({ id: "DeletedTag" });

export const repositoryQuerySchema = z
  .object({
    registry: registryName.optional(),
    prefix: z.string().max(255).regex(/^[a-z0-9._/-]*$/, { error: "prefix must be the start of a lowercase repository name" }).optional(),
    cursor: z.string().max(600).optional().describe("nextCursor from the previous page"),
    limit: limit(50),
  })
  .strict();

// ── auth ────────────────────────────────────────────────────────────────────
export const loginSchema = z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1024) }).strict();
export const setupSchema = z.object({ username, password: z.string().min(1).max(1024), setupToken: z.string().min(1).max(200) }).strict();

export const userSchema = z
  .object({ id: z.string(), username: z.string(), role, disabled: z.boolean(), createdAt: isoDate, updatedAt: isoDate, lastLoginAt: dateTime })
  .meta({ id: "User" });

export const sessionSchema = z
  .object({
    user: z.object({ id: z.string(), username: z.string(), role }),
    via: z.enum(["session", "token"]),
    csrfToken: z.string().nullable().describe("send as X-CSRF-Token with every state-changing request made with the session cookie"),
    expiresAt: dateTime,
  })
  .meta({ id: "Session" });

export const createUserSchema = z.object({ username, password: z.string().min(1).max(1024), role }).strict();
export const updateUserSchema = z
  .object({ role: role.optional(), password: z.string().min(1).max(1024).optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, { error: "give at least one of role, password, disabled" });

export const apiTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role,
    owner: z.string(),
    prefix: z.string().describe("the first characters of the token, to tell tokens apart"),
    createdAt: isoDate,
    expiresAt: dateTime,
    lastUsedAt: dateTime,
    revokedAt: dateTime,
  })
  .meta({ id: "ApiToken" });

export const createTokenSchema = z
  .object({
    name: z.string().min(1).max(100).regex(/^[\w .:@/-]+$/, { error: "token names are letters, digits, spaces and . : @ / - _" }),
    role,
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const createdTokenSchema = z
  .object({ token: z.string().describe("shown once: store it now"), info: apiTokenSchema })
  .meta({ id: "CreatedApiToken" });

export const auditSchema = z
  .object({
    id: z.string(),
    at: isoDate,
    actor: z.string(),
    actorId: z.string().nullable(),
    via: z.string(),
    tokenId: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    outcome: z.enum(["success", "denied", "failed"]),
    errorCode: z.string().nullable(),
    details: z.unknown().nullable(),
  })
  .meta({ id: "AuditEntry" });

export const auditQuerySchema = z
  .object({ actor: z.string().max(100).optional(), action: z.string().max(100).optional(), cursor: taskId.optional(), limit: limit(50) })
  .strict();

export const okSchema = z.object({ ok: z.literal(true) }).meta({ id: "Ok" });

// ── dashboard reads, registry checks ────────────────────────────────────────
export const storeTotalsSchema = z
  .object({
    registries: z.number().int(),
    repositories: z.number().int(),
    tags: z.number().int(),
    imageBytes: z.number().describe("sum of synced images' sizes (shared blobs counted per image)"),
    storeBytes: z.number().nullable().describe("distinct bytes on disk (shared blobs once)"),
    lastSyncedAt: dateTime,
  })
  .meta({ id: "StoreTotals" });

export const historyQuerySchema = z.object({ range: z.enum(["24h", "7d"]).default("24h"), registry: registryName.optional() }).strict();

export const historySchema = z
  .object({
    range: z.enum(["24h", "7d"]),
    bucketMs: z.number().int(),
    buckets: z.array(z.object({ at: isoDate, bytes: z.number(), images: z.number().int(), tasks: z.number().int(), failed: z.number().int() })),
  })
  .meta({ id: "SyncHistory" });

export const repositoryDetailQuerySchema = z.object({ repository: repositoryName }).strict();

export const referrerSchema = z
  .object({ digest: z.string(), artifactType: z.string().nullable(), mediaType: z.string(), size: z.number(), annotations: z.record(z.string(), z.string()) })
  .meta({ id: "Referrer" });

export const repositoryDetailSchema = z
  .object({
    registryName: z.string(),
    repository: z.string(),
    upstreamUrls: z.array(z.string()),
    upstreamRepo: z.string().nullable(),
    periodic: z.boolean(),
    size: z.number(),
    storeBytes: z.number().nullable().describe("distinct bytes the store holds for the repository (blobs shared with other repositories included)"),
    lastSyncedAt: dateTime,
    tags: z.array(tagSchema.extend({ referrers: z.array(referrerSchema), errorMessage: z.string().nullable(), lastChangedAt: dateTime })),
  })
  .meta({ id: "RepositoryDetail" });

export const registryCheckSchema = z
  .object({
    config: z.record(z.string(), z.unknown()).describe("the registry config as the editor has it (unsaved); validated like createRegistry"),
    existing: registryName.optional().describe("an existing registry whose stored credentials/clientKey are used when config leaves them out"),
  })
  .strict()
  .meta({ id: "RegistryCheck" });

export const connectionResultSchema = z
  .object({ ok: z.boolean(), url: z.string(), latencyMs: z.number().int(), auth: z.string().nullable(), errorCode: z.string().nullable(), errorMessage: z.string().nullable() })
  .meta({ id: "ConnectionResult" });

export const previewResultSchema = z
  .object({
    connection: connectionResultSchema,
    catalogSize: z.number().int(),
    catalogTruncated: z.boolean(),
    matched: z.number().int(),
    repositories: z.array(
      z.object({
        upstream: z.string(),
        local: z.string().nullable(),
        tagsTotal: z.number().int(),
        tags: z.array(z.object({ tag: z.string(), keep: z.boolean(), reason: z.string().nullable() })),
        tagsError: z.string().nullable(),
      }),
    ),
    moreMatched: z.number().int(),
    notes: z.array(z.string()),
  })
  .meta({ id: "PreviewResult" });
