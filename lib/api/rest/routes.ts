/**
 * Every REST operation under /api/v1, as data. `router.ts` dispatches with this table and
 * `openapi.ts` documents it; each handler is a line or two over one lib/ operation.
 */
import { z } from "zod";
import {
  countUsers,
  createApiToken,
  createUser,
  deleteUser,
  endSession,
  listApiTokens,
  listAudit,
  listUsers,
  login,
  recordAudit,
  revokeApiToken,
  sessionCookie,
  setupFirstAdmin,
  updateUser,
  checkSetupToken,
  type Viewer,
} from "../../auth";
import { AppError } from "../../errors";
import { createRegistry, deleteRegistry, generatorOf, generators, getRegistry, listRegistries, pauseRegistryByName, resetRegistryGenerator, resumeRegistryByName, triggerRegistryRound, updateRegistry, type RegistryView } from "../registries";
import { promoteRepository } from "../promote";
import { listRepositories, repositoryCoverage } from "../repositories";
import { deleteMirroredTag } from "../tags";
import { repositoryDetail, storeTotals, syncHistory } from "../dashboard";
import { previewRegistry, testRegistryConnection } from "../preview";
import * as s from "../schemas";
import { cancelTask, getTaskView, listTasks, queueSync, retryTask } from "../tasks";
import { route, Reply, type RouteDef } from "./define";
import { alertDeliveries, alertDeliveryQuerySchema, alertDeliverySchema } from "../alerts";
import type { CallContext } from "../perform";

const nameParams = z.object({ name: s.registryName }).strict();
const idParams = z.object({ id: s.taskId }).strict();
const userParams = z.object({ username: s.username }).strict();
const tokenParams = z.object({ id: s.uuid }).strict();
const items = <T extends z.ZodType>(t: T, id: string) => z.object({ items: z.array(t) }).meta({ id });
const ok = { ok: true as const };

function cookieSecure(ctx: CallContext, request: Request): boolean {
  const mode = ctx.env.config.auth.cookieSecure;
  if (mode !== "auto") return mode === "true";
  return new URL(request.url).protocol === "https:" || request.headers.get("x-forwarded-proto") === "https";
}

function sessionView(viewer: Viewer, expiresAt: Date | null) {
  return { user: { id: viewer.userId, username: viewer.username, role: viewer.role }, via: viewer.via, csrfToken: viewer.csrfToken ?? null, expiresAt };
}

/** A registry with its version as a strong ETag, which `If-Match` on PUT compares. */
function withEtag(r: RegistryView): Reply {
  return new Reply(r, { headers: { etag: `"${r.version}"` } });
}

const IF_MATCH = { name: "If-Match", description: 'The ETag (`"<version>"`) a GET returned: the change applies only if the registry has not changed since (412 otherwise)' };

/** `If-Match: "<version>"` → the version; absent or `*` → no condition. */
function ifMatchVersion(request: Request): number | undefined {
  const raw = request.headers.get("if-match")?.trim();
  if (!raw || raw === "*") return undefined;
  const m = /^"(\d{1,9})"$/.exec(raw);
  if (!m) throw new AppError("BAD_USER_INPUT", 'If-Match must be the registry\'s ETag, e.g. "3" (weak tags and lists are not accepted)', { details: { header: "If-Match" } });
  return Number(m[1]);
}

export const ROUTES: RouteDef[] = [
  // ── registries and their generators ──
  route({
    method: "GET", path: "/registries", operationId: "listRegistries", tag: "registries", summary: "List registries (config without secrets)",
    action: "registry.read", response: items(s.registrySchema, "RegistryList"),
    handler: async (ctx) => ({ items: await listRegistries(ctx.env.db) }),
  }),
  route<Record<string, never>, Record<string, never>, Record<string, unknown>>({
    method: "POST", path: "/registries", operationId: "createRegistry", tag: "registries", summary: "Create a registry (validated like the config file; secrets write-only)",
    action: "registry.create", body: s.registryWriteSchema, status: 201, response: s.registrySchema,
    target: ({ body }) => (typeof body?.name === "string" ? body.name.slice(0, 100) : null),
    handler: async (ctx, { body }) => withEtag(await createRegistry(ctx.env, body)),
  }),
  route<{ name: string }>({
    method: "GET", path: "/registries/{name}", operationId: "getRegistry", tag: "registries", summary: "One registry",
    action: "registry.read", params: nameParams, response: s.registrySchema,
    handler: async (ctx, { params }) => withEtag(await getRegistry(ctx.env.db, params.name)),
  }),
  route<{ name: string }, Record<string, never>, Record<string, unknown>>({
    method: "PUT", path: "/registries/{name}", operationId: "updateRegistry", tag: "registries",
    summary: "Replace a registry's config (credentials/clientKey: omit to keep, null to remove)",
    action: "registry.update", params: nameParams, body: s.registryWriteSchema, response: s.registrySchema,
    headers: [IF_MATCH],
    errors: { "412": "The registry changed since the version given in If-Match" },
    target: ({ params }) => params.name,
    handler: async (ctx, { params, body, request }) => withEtag(await updateRegistry(ctx.env, params.name, body, { ifVersion: ifMatchVersion(request) })),
  }),
  route<{ name: string }>({
    method: "DELETE", path: "/registries/{name}", operationId: "deleteRegistry", tag: "registries", summary: "Delete a registry (its task history stays)",
    action: "registry.delete", params: nameParams, response: s.okSchema, target: ({ params }) => params.name,
    headers: [IF_MATCH],
    errors: { "412": "The registry changed since the version given in If-Match" },
    handler: async (ctx, { params, request }) => (await deleteRegistry(ctx.env, params.name, { ifVersion: ifMatchVersion(request) }), ok),
  }),
  route({
    method: "GET", path: "/generators", operationId: "listGenerators", tag: "registries", summary: "Every registry's generator status (the scheduler's snapshot)",
    action: "generator.read", response: items(s.generatorSchema, "GeneratorList"),
    handler: async (ctx) => ({ items: await generators(ctx.env) }),
  }),
  route<{ name: string }>({
    method: "GET", path: "/registries/{name}/generator", operationId: "getGenerator", tag: "registries", summary: "One registry's generator status",
    action: "generator.read", params: nameParams, response: s.generatorSchema,
    handler: (ctx, { params }) => generatorOf(ctx.env, params.name),
  }),
  route<{ name: string }>({
    method: "POST", path: "/registries/{name}/sync", operationId: "triggerRound", tag: "registries", summary: "Start the next round now (409 while one is in progress)",
    action: "registry.sync", params: nameParams, status: 202, response: s.generatorSchema, target: ({ params }) => params.name,
    handler: (ctx, { params }) => triggerRegistryRound(ctx.env, params.name),
  }),
  route<{ name: string }>({
    method: "POST", path: "/registries/{name}/pause", operationId: "pauseRegistry", tag: "registries", summary: "Pause a registry's generator and queued tasks",
    action: "registry.pause", params: nameParams, response: s.generatorSchema, target: ({ params }) => params.name,
    handler: (ctx, { params }) => pauseRegistryByName(ctx.env, params.name),
  }),
  route<{ name: string }>({
    method: "POST", path: "/registries/{name}/resume", operationId: "resumeRegistry", tag: "registries", summary: "Resume a paused registry",
    action: "registry.resume", params: nameParams, response: s.generatorSchema, target: ({ params }) => params.name,
    handler: (ctx, { params }) => resumeRegistryByName(ctx.env, params.name),
  }),
  route<{ name: string }>({
    method: "POST", path: "/registries/{name}/reset", operationId: "resetGenerator", tag: "registries", summary: "Reset the generator: drop the round's cursor and start over",
    action: "generator.reset", params: nameParams, response: s.generatorSchema, target: ({ params }) => params.name,
    handler: (ctx, { params }) => resetRegistryGenerator(ctx.env, params.name),
  }),
  route<{ name: string }, Record<string, never>, z.infer<typeof s.syncRepositorySchema>>({
    method: "POST", path: "/registries/{name}/repositories/sync", operationId: "syncRepository", tag: "registries", summary: "Queue a sync of one upstream repository",
    action: "repository.sync", params: nameParams, body: s.syncRepositorySchema, status: 202, response: s.taskSchema,
    target: ({ params, body }) => `${params.name}/${body.repository}`,
    handler: (ctx, { params, body }) => queueSync(ctx.env, params.name, body, ctx.viewer!.username),
  }),
  route<{ name: string }, Record<string, never>, z.infer<typeof s.promoteSchema>>({
    method: "POST", path: "/registries/{name}/promote", operationId: "promoteRepository", tag: "registries",
    summary: "Promote a repository pulled on demand to periodic sync: adds an exact content rule for its upstream repository (idempotent; 409 without pollInterval)",
    action: "registry.promote", params: nameParams, body: s.promoteSchema, response: s.promotionSchema,
    target: ({ params, body }) => `${params.name}/${body.repository}`,
    handler: (ctx, { params, body }) => promoteRepository(ctx.env, params.name, body.repository),
  }),
  route<{ name: string }, Record<string, never>, z.infer<typeof s.syncImageSchema>>({
    method: "POST", path: "/registries/{name}/images/sync", operationId: "syncImage", tag: "registries", summary: "Queue a sync of one image (tag or digest)",
    action: "image.sync", params: nameParams, body: s.syncImageSchema, status: 202, response: s.taskSchema,
    target: ({ params, body }) => `${params.name}/${body.repository}:${body.reference}`,
    handler: (ctx, { params, body }) => queueSync(ctx.env, params.name, body, ctx.viewer!.username),
  }),

  // ── tasks ──
  route<Record<string, never>, z.infer<typeof s.taskQuerySchema>>({
    method: "GET", path: "/tasks", operationId: "listTasks", tag: "tasks", summary: "Tasks, newest first (filters; cursor pagination by id)",
    action: "task.read", query: s.taskQuerySchema, response: s.pageOf(s.taskSchema, "TaskPage"),
    handler: (ctx, { query }) => listTasks(ctx.env, query),
  }),
  route<{ id: string }>({
    method: "GET", path: "/tasks/{id}", operationId: "getTask", tag: "tasks", summary: "A task with its events and per-tag outcomes",
    action: "task.read", params: idParams, response: s.taskDetailSchema,
    handler: (ctx, { params }) => getTaskView(ctx.env, params.id),
  }),
  route<{ id: string }>({
    method: "POST", path: "/tasks/{id}/cancel", operationId: "cancelTask", tag: "tasks", summary: "Cancel a queued, retrying or running task",
    action: "task.cancel", params: idParams, response: s.taskSchema, target: ({ params }) => `task:${params.id}`,
    handler: (ctx, { params }) => cancelTask(ctx.env, params.id),
  }),
  route<{ id: string }>({
    method: "POST", path: "/tasks/{id}/retry", operationId: "retryTask", tag: "tasks", summary: "Queue a fresh copy of a failed or cancelled task",
    action: "task.retry", params: idParams, status: 201, response: s.taskSchema, target: ({ params }) => `task:${params.id}`,
    handler: (ctx, { params }) => retryTask(ctx.env, params.id, ctx.viewer!.username),
  }),

  // ── repositories ──
  route<Record<string, never>, z.infer<typeof s.repositoryQuerySchema>>({
    method: "GET", path: "/repositories", operationId: "listRepositories", tag: "repositories", summary: "Mirrored repositories with their tags (from per-tag sync state)",
    action: "repository.read", query: s.repositoryQuerySchema, response: s.pageOf(s.repositorySchema, "RepositoryPage"),
    handler: (ctx, { query }) => listRepositories(ctx.env, query),
  }),

  route<{ name: string }, z.infer<typeof s.repositoryDetailQuerySchema>>({
    method: "GET", path: "/registries/{name}/repository", operationId: "getRepository", tag: "repositories", summary: "One mirrored repository: its tags, digests, sizes, platforms and referrers",
    action: "repository.read", params: nameParams, query: s.repositoryDetailQuerySchema, response: s.repositoryDetailSchema,
    handler: async (ctx, { params, query }) => ({ ...(await repositoryDetail(ctx.env, params.name, query.repository)), ...(await repositoryCoverage(ctx.env, params.name, query.repository)) }),
  }),
  route<{ repo: string; tag: string }>({
    method: "DELETE", path: "/repositories/{repo}/tags/{tag}", operationId: "deleteTag", tag: "repositories",
    summary: "Delete a mirrored tag from the store and forget its sync state (repo URL-encoded: library%2Falpine); the next round re-syncs it only if a rule still selects it",
    action: "tag.delete", params: s.tagParamsSchema, response: s.deletedTagSchema, target: ({ params }) => `${params.repo}:${params.tag}`,
    handler: (ctx, { params }) => deleteMirroredTag(ctx.env, params.repo, params.tag),
  }),
  route({
    method: "GET", path: "/store/totals", operationId: "getStoreTotals", tag: "repositories", summary: "Totals for the store: registries, repositories, tags, bytes",
    action: "repository.read", response: s.storeTotalsSchema,
    handler: (ctx) => storeTotals(ctx.env),
  }),
  route<Record<string, never>, z.infer<typeof s.historyQuerySchema>>({
    method: "GET", path: "/history", operationId: "getSyncHistory", tag: "tasks", summary: "Bytes and images synced per hour (24h) or per 6 hours (7d), from finished tasks",
    action: "task.read", query: s.historyQuerySchema, response: s.historySchema,
    handler: (ctx, { query }) => syncHistory(ctx.env, query.range, query.registry),
  }),

  // ── registry checks (read-only requests to the upstream; nothing stored) ──
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.registryCheckSchema>>({
    method: "POST", path: "/registry-checks/connection", operationId: "testRegistryConnection", tag: "registries", summary: "Test connection: does the upstream answer /v2/ with this (unsaved) config?",
    action: "registry.preview", body: s.registryCheckSchema, response: s.connectionResultSchema,
    target: ({ body }) => (typeof body?.config?.name === "string" ? body.config.name.slice(0, 100) : (body?.existing ?? null)),
    handler: (ctx, { body }) => testRegistryConnection(ctx.env, body.config, body.existing),
  }),
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.registryCheckSchema>>({
    method: "POST", path: "/registry-checks/preview", operationId: "previewRegistry", tag: "registries", summary: "Dry run of the content rules: which repositories and tags this (unsaved) config would sync",
    action: "registry.preview", body: s.registryCheckSchema, response: s.previewResultSchema,
    target: ({ body }) => (typeof body?.config?.name === "string" ? body.config.name.slice(0, 100) : (body?.existing ?? null)),
    handler: (ctx, { body }) => previewRegistry(ctx.env, body.config, body.existing),
  }),

  // ── alerts (read-only delivery history) ──
  route<Record<string, never>, z.infer<typeof alertDeliveryQuerySchema>>({
    method: "GET", path: "/alerts/deliveries", operationId: "listAlertDeliveries", tag: "alerts", summary: "Alert webhook events, newest first, with every delivery attempt (no URLs or secrets)",
    action: "task.read", query: alertDeliveryQuerySchema, response: s.pageOf(alertDeliverySchema, "AlertDeliveryPage"),
    handler: (ctx, { query }) => alertDeliveries(ctx.env, query),
  }),

  // ── session, setup ──
  route({
    method: "GET", path: "/session", operationId: "getSession", tag: "auth", summary: "Who am I; the CSRF token for cookie sessions",
    action: "me.read", response: s.sessionSchema,
    handler: async (ctx) => sessionView(ctx.viewer!, null),
  }),
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.loginSchema>>({
    method: "POST", path: "/session", operationId: "login", tag: "auth", summary: "Sign in: sets the httpOnly session cookie, returns the CSRF token",
    action: "public", body: s.loginSchema, status: 201, response: s.sessionSchema,
    handler: async (ctx, { body, request }) => {
      const ttlMs = ctx.env.config.auth.sessionTtlHours * 3_600_000;
      try {
        const session = await login(ctx.env.db, body, ctx.meta, ttlMs);
        const viewer: Viewer = { userId: session.user.id, username: session.user.username, role: session.user.role, via: "session", csrfToken: session.csrfToken };
        await recordAudit(ctx.env.db, { viewer, action: "session.create", target: null, meta: ctx.meta, outcome: "success" }, ctx.env.log);
        return new Reply(sessionView(viewer, session.expiresAt), {
          status: 201,
          headers: { "set-cookie": sessionCookie(session.secret, { maxAgeSeconds: ttlMs / 1000, secure: cookieSecure(ctx, request) }) },
        });
      } catch (err) {
        const code = (err as { code?: string }).code ?? "INTERNAL";
        await recordAudit(ctx.env.db, { viewer: null, actorName: body.username.slice(0, 64), action: "session.create", meta: ctx.meta, outcome: code === "UNAUTHENTICATED" || code === "RATE_LIMITED" ? "denied" : "failed", errorCode: code }, ctx.env.log);
        throw err;
      }
    },
  }),
  route({
    method: "DELETE", path: "/session", operationId: "logout", tag: "auth", summary: "Sign out: ends the session and clears the cookie (needs X-CSRF-Token)",
    action: "public", response: s.okSchema,
    handler: async (ctx, { request }) => {
      if (ctx.authError) throw ctx.authError;
      if (ctx.viewer?.sessionId) {
        await endSession(ctx.env.db, ctx.viewer.sessionId);
        await recordAudit(ctx.env.db, { viewer: ctx.viewer, action: "session.delete", meta: ctx.meta, outcome: "success" }, ctx.env.log);
      }
      return new Reply(ok, { headers: { "set-cookie": sessionCookie("", { maxAgeSeconds: 0, secure: cookieSecure(ctx, request) }) } });
    },
  }),
  route({
    method: "GET", path: "/setup", operationId: "getSetup", tag: "auth", summary: "Whether the one-time setup (first admin) is still open",
    action: "public", response: z.object({ needed: z.boolean() }).meta({ id: "SetupState" }),
    handler: async (ctx) => ({ needed: (await countUsers(ctx.env.db)) === 0 }),
  }),
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.setupSchema>>({
    method: "POST", path: "/setup", operationId: "setup", tag: "auth", summary: "Create the first admin (only while there are no users; needs the token from <dataDir>/setup.token)",
    action: "public", body: s.setupSchema, status: 201, response: s.userSchema,
    handler: async (ctx, { body }) => {
      const audit = (outcome: "success" | "denied" | "failed", errorCode?: string) =>
        recordAudit(ctx.env.db, { viewer: null, actorName: body.username, action: "setup", target: body.username, meta: ctx.meta, outcome, errorCode: errorCode ?? null }, ctx.env.log);
      if (!checkSetupToken(ctx.env.config.paths.dataDir, body.setupToken)) {
        await audit("denied", "FORBIDDEN");
        throw new AppError("FORBIDDEN", "wrong setup token (see setup.token in Ferry's data directory)");
      }
      try {
        const user = await setupFirstAdmin(ctx.env.db, body);
        await audit("success");
        return user;
      } catch (err) {
        await audit("failed", (err as { code?: string }).code ?? "INTERNAL");
        throw err;
      }
    },
  }),

  // ── users ──
  route({
    method: "GET", path: "/users", operationId: "listUsers", tag: "users", summary: "Users",
    action: "user.read", response: items(s.userSchema, "UserList"),
    handler: async (ctx) => ({ items: await listUsers(ctx.env.db) }),
  }),
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.createUserSchema>>({
    method: "POST", path: "/users", operationId: "createUser", tag: "users", summary: "Create a user",
    action: "user.create", body: s.createUserSchema, status: 201, response: s.userSchema, target: ({ body }) => body.username,
    handler: (ctx, { body }) => createUser(ctx.env.db, body),
  }),
  route<{ username: string }, Record<string, never>, z.infer<typeof s.updateUserSchema>>({
    method: "PATCH", path: "/users/{username}", operationId: "updateUser", tag: "users", summary: "Change a user's role, password or disabled flag (ends their sessions on password change or disable)",
    action: "user.update", params: userParams, body: s.updateUserSchema, response: s.userSchema, target: ({ params }) => params.username,
    handler: (ctx, { params, body }) => updateUser(ctx.env.db, params.username, body),
  }),
  route<{ username: string }>({
    method: "DELETE", path: "/users/{username}", operationId: "deleteUser", tag: "users", summary: "Delete a user (their sessions and tokens end)",
    action: "user.delete", params: userParams, response: s.okSchema, target: ({ params }) => params.username,
    handler: async (ctx, { params }) => (await deleteUser(ctx.env.db, params.username), ok),
  }),

  // ── API tokens ──
  route({
    method: "GET", path: "/tokens", operationId: "listTokens", tag: "tokens", summary: "API tokens (never the token itself)",
    action: "token.read", response: items(s.apiTokenSchema, "ApiTokenList"),
    handler: async (ctx) => ({ items: await listApiTokens(ctx.env.db) }),
  }),
  route<Record<string, never>, Record<string, never>, z.infer<typeof s.createTokenSchema>>({
    method: "POST", path: "/tokens", operationId: "createToken", tag: "tokens", summary: "Create an API token scoped to a role; the token is in this response only",
    action: "token.create", body: s.createTokenSchema, status: 201, response: s.createdTokenSchema, target: ({ body }) => body.name,
    handler: (ctx, { body }) => createApiToken(ctx.env.db, ctx.viewer!, { name: body.name, role: body.role, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null }),
  }),
  route<{ id: string }>({
    method: "DELETE", path: "/tokens/{id}", operationId: "revokeToken", tag: "tokens", summary: "Revoke an API token (effective immediately)",
    action: "token.revoke", params: tokenParams, response: s.apiTokenSchema, target: ({ params }) => `token:${params.id}`,
    handler: (ctx, { params }) => revokeApiToken(ctx.env.db, params.id),
  }),

  // ── audit ──
  route<Record<string, never>, z.infer<typeof s.auditQuerySchema>>({
    method: "GET", path: "/audit", operationId: "listAudit", tag: "audit", summary: "The audit log, newest first",
    action: "audit.read", query: s.auditQuerySchema, response: s.pageOf(s.auditSchema, "AuditPage"),
    handler: (ctx, { query }) => listAudit(ctx.env.db, { actor: query.actor, action: query.action, before: query.cursor, limit: query.limit }),
  }),
];
