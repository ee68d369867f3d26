/**
 * Thin resolvers: validate arguments with the REST API's zod schemas, call one lib/api
 * operation through `perform` (authorization + audit), return its result.
 */
import type { GraphQLFieldResolver } from "graphql";
import type { z } from "zod";
import {
  alertDeliveries,
  alertDeliveryQuerySchema,
  cancelTask,
  createRegistry,
  deleteRegistry,
  generatorOf,
  generators,
  getRegistry,
  getTaskView,
  listRegistries,
  listRepositories,
  listTasks,
  pauseRegistryByName,
  perform,
  previewRegistry,
  promoteRepository,
  deleteMirroredTag,
  queueSync,
  repositoryCoverage,
  repositoryStoreBytes,
  tagReferrers,
  repositoryDetail,
  storeTotals,
  syncHistory,
  testRegistryConnection,
  resetRegistryGenerator,
  resumeRegistryByName,
  retryTask,
  schemas as s,
  triggerRegistryRound,
  updateRegistry,
  type RegistryView,
  type TaskView,
} from "@/lib/api";
import { createApiToken, createUser, deleteUser, listApiTokens, listAudit, listUsers, revokeApiToken, updateUser, type Action } from "@/lib/auth";
import { AppError } from "@/lib/errors";
import type { GraphQLContext } from "./context";
import { subscribe } from "./events";

type Args = Record<string, unknown>;
type Field = GraphQLFieldResolver<unknown, GraphQLContext, Args>;
export type Resolvers = Record<string, Record<string, Field | { subscribe: Field }>>;

/** Validates one argument with a zod schema; issues name the argument, never echo the value. */
function arg<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 20).map((i) => ({ path: [name, ...i.path.map(String)].join("."), message: i.message }));
  throw new AppError("BAD_USER_INPUT", `invalid ${name}: ${issues.map((i) => i.message).join("; ")}`, { details: { issues } });
}

const opt = <T>(schema: z.ZodType<T>, value: unknown, name: string): T | undefined => (value === undefined || value === null ? undefined : arg(schema, value, name));

function jsonObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new AppError("BAD_USER_INPUT", `${name} must be an object`, { details: { issues: [{ path: name, message: "expected an object" }] } });
  return value as Record<string, unknown>;
}

const read = <T>(action: Action, run: (ctx: GraphQLContext, args: Args) => Promise<T>): Field => (_p, args, ctx) => perform(ctx, action, null, () => run(ctx, args));
const mutate = <T>(action: Action, target: (args: Args) => string | null, run: (ctx: GraphQLContext, args: Args) => Promise<T>): Field => (_p, args, ctx) =>
  perform(ctx, action, null, () => run(ctx, args), undefined, () => {
    const t = target(args);
    return typeof t === "string" ? t.slice(0, 200) : null;
  });
const str = (v: unknown) => (typeof v === "string" ? v : null);

export const resolvers: Resolvers = {
  Query: {
    me: read("me.read", async (ctx) => ({ id: ctx.viewer!.userId, username: ctx.viewer!.username, role: ctx.viewer!.role, via: ctx.viewer!.via })),
    registries: read("registry.read", (ctx) => listRegistries(ctx.env.db)),
    registry: read("registry.read", async (ctx, a) => {
      try {
        return await getRegistry(ctx.env.db, arg(s.registryName, a.name, "name"));
      } catch (err) {
        if ((err as { code?: string }).code === "NOT_FOUND") return null;
        throw err;
      }
    }),
    generators: read("generator.read", (ctx) => generators(ctx.env)),
    tasks: read("task.read", (ctx, a) => {
      const f = (a.filter ?? {}) as Args;
      return listTasks(ctx.env, {
        registry: opt(s.registryName, f.registry, "filter.registry"),
        status: f.status as string[] | undefined,
        kind: f.kind as string | undefined,
        repository: opt(s.repositoryName, f.repository, "filter.repository"),
        since: f.since as string | undefined,
        until: f.until as string | undefined,
        cursor: opt(s.taskId, a.after, "after"),
        limit: arg(s.limit(50), a.first ?? 50, "first"),
      });
    }),
    task: read("task.read", async (ctx, a) => {
      try {
        return await getTaskView(ctx.env, arg(s.taskId, a.id, "id"));
      } catch (err) {
        if ((err as { code?: string }).code === "NOT_FOUND") return null;
        throw err;
      }
    }),
    repositories: read("repository.read", (ctx, a) =>
      listRepositories(ctx.env, arg(s.repositoryQuerySchema, { registry: a.registry ?? undefined, prefix: a.prefix ?? undefined, cursor: a.after ?? undefined, limit: a.first ?? 50 }, "arguments")),
    ),
    audit: read("audit.read", (ctx, a) => {
      const q = arg(s.auditQuerySchema, { actor: a.actor ?? undefined, action: a.action ?? undefined, cursor: a.after ?? undefined, limit: a.first ?? 50 }, "arguments");
      return listAudit(ctx.env.db, { actor: q.actor, action: q.action, before: q.cursor, limit: q.limit });
    }),
    alertDeliveries: read("task.read", (ctx, a) =>
      alertDeliveries(ctx.env, arg(alertDeliveryQuerySchema, { webhook: str(a.webhook) ?? undefined, registry: str(a.registry) ?? undefined, status: str(a.status) ?? undefined, type: str(a.type) ?? undefined, cursor: str(a.after) ?? undefined, limit: a.first ?? 50 }, "arguments")),
    ),
    users: read("user.read", (ctx) => listUsers(ctx.env.db)),
    tokens: read("token.read", (ctx) => listApiTokens(ctx.env.db)),
    storeTotals: read("repository.read", (ctx) => storeTotals(ctx.env)),
    syncHistory: read("task.read", (ctx, a) => {
      const q = arg(s.historyQuerySchema, { range: a.range ?? undefined, registry: a.registry ?? undefined }, "arguments");
      return syncHistory(ctx.env, q.range, q.registry);
    }),
    repository: read("repository.read", async (ctx, a) => {
      try {
        const registry = arg(s.registryName, a.registry, "registry");
        const name = arg(s.repositoryName, a.name, "name");
        return { ...(await repositoryDetail(ctx.env, registry, name)), ...(await repositoryCoverage(ctx.env, registry, name)) };
      } catch (err) {
        if ((err as { code?: string }).code === "NOT_FOUND") return null;
        throw err;
      }
    }),
  },
  Registry: {
    generator: (parent, _a, ctx) => perform(ctx, "generator.read", null, () => generatorOf(ctx.env, (parent as RegistryView).name)),
  },
  Repository: {
    storeBytes: (parent, _a, ctx) => perform(ctx, "repository.read", null, () => repositoryStoreBytes((parent as { repository: string }).repository)),
    // Each tag learns its repository, for Tag.referrers.
    tags: async (parent) => {
      const r = parent as { repository: string; tags: object[] };
      return r.tags.map((t) => ({ ...t, repository: r.repository }));
    },
  },
  Tag: {
    referrers: (parent, _a, ctx) => {
      const t = parent as { repository: string; digest: string | null };
      return perform(ctx, "repository.read", null, () => tagReferrers(t.repository, t.digest));
    },
  },
  Task: {
    events: async (parent, _a, ctx) => {
      const t = parent as TaskView & { events?: unknown[] };
      return t.events ?? (await perform(ctx, "task.read", null, () => getTaskView(ctx.env, t.id))).events;
    },
  },
  Mutation: {
    createRegistry: mutate("registry.create", (a) => str((a.input as Args | null)?.name), (ctx, a) => createRegistry(ctx.env, jsonObject(a.input, "input"))),
    updateRegistry: mutate("registry.update", (a) => str(a.name), (ctx, a) =>
      updateRegistry(ctx.env, arg(s.registryName, a.name, "name"), jsonObject(a.input, "input"), { ifVersion: opt(s.registryVersion, a.ifVersion, "ifVersion") }),
    ),
    deleteRegistry: mutate("registry.delete", (a) => str(a.name), async (ctx, a) => (await deleteRegistry(ctx.env, arg(s.registryName, a.name, "name"), { ifVersion: opt(s.registryVersion, a.ifVersion, "ifVersion") }), true)),
    triggerRound: mutate("registry.sync", (a) => str(a.registry), (ctx, a) => triggerRegistryRound(ctx.env, arg(s.registryName, a.registry, "registry"))),
    pauseRegistry: mutate("registry.pause", (a) => str(a.registry), (ctx, a) => pauseRegistryByName(ctx.env, arg(s.registryName, a.registry, "registry"))),
    resumeRegistry: mutate("registry.resume", (a) => str(a.registry), (ctx, a) => resumeRegistryByName(ctx.env, arg(s.registryName, a.registry, "registry"))),
    resetGenerator: mutate("generator.reset", (a) => str(a.registry), (ctx, a) => resetRegistryGenerator(ctx.env, arg(s.registryName, a.registry, "registry"))),
    syncRepository: mutate("repository.sync", (a) => `${str(a.registry)}/${str(a.repository)}`, (ctx, a) =>
      queueSync(ctx.env, arg(s.registryName, a.registry, "registry"), { repository: arg(s.repositoryName, a.repository, "repository") }, ctx.viewer!.username),
    ),
    syncImage: mutate("image.sync", (a) => `${str(a.registry)}/${str(a.repository)}:${str(a.reference)}`, (ctx, a) =>
      queueSync(ctx.env, arg(s.registryName, a.registry, "registry"), { repository: arg(s.repositoryName, a.repository, "repository"), reference: arg(s.reference, a.reference, "reference") }, ctx.viewer!.username),
    ),
    cancelTask: mutate("task.cancel", (a) => `task:${str(a.id)}`, (ctx, a) => cancelTask(ctx.env, arg(s.taskId, a.id, "id"))),
    retryTask: mutate("task.retry", (a) => `task:${str(a.id)}`, (ctx, a) => retryTask(ctx.env, arg(s.taskId, a.id, "id"), ctx.viewer!.username)),
    createUser: mutate("user.create", (a) => str(a.username), (ctx, a) => createUser(ctx.env.db, arg(s.createUserSchema, { username: a.username, password: a.password, role: a.role }, "arguments"))),
    updateUser: mutate("user.update", (a) => str(a.username), (ctx, a) => {
      const patch = arg(s.updateUserSchema, Object.fromEntries(Object.entries({ role: a.role, password: a.password, disabled: a.disabled }).filter(([, v]) => v !== undefined && v !== null)), "arguments");
      return updateUser(ctx.env.db, arg(s.username, a.username, "username"), patch);
    }),
    deleteUser: mutate("user.delete", (a) => str(a.username), async (ctx, a) => (await deleteUser(ctx.env.db, arg(s.username, a.username, "username")), true)),
    createToken: mutate("token.create", (a) => str(a.name), (ctx, a) => {
      const input = arg(s.createTokenSchema, { name: a.name, role: a.role, ...(a.expiresAt ? { expiresAt: a.expiresAt } : {}) }, "arguments");
      return createApiToken(ctx.env.db, ctx.viewer!, { name: input.name, role: input.role, expiresAt: input.expiresAt ? new Date(input.expiresAt) : null });
    }),
    testRegistryConnection: mutate("registry.preview", (a) => str((a.input as Args | null)?.name) ?? str(a.existing), (ctx, a) =>
      testRegistryConnection(ctx.env, jsonObject(a.input, "input"), opt(s.registryName, a.existing, "existing")),
    ),
    previewRegistry: mutate("registry.preview", (a) => str((a.input as Args | null)?.name) ?? str(a.existing), (ctx, a) =>
      previewRegistry(ctx.env, jsonObject(a.input, "input"), opt(s.registryName, a.existing, "existing")),
    ),
    promoteRepository: mutate("registry.promote", (a) => `${str(a.registry)}/${str(a.repository)}`, (ctx, a) =>
      promoteRepository(ctx.env, arg(s.registryName, a.registry, "registry"), arg(s.repositoryName, a.repository, "repository")),
    ),
    deleteTag: mutate("tag.delete", (a) => `${str(a.repository)}:${str(a.tag)}`, (ctx, a) => {
      const p = arg(s.tagParamsSchema, { repo: a.repository, tag: a.tag }, "arguments");
      return deleteMirroredTag(ctx.env, p.repo, p.tag);
    }),
    revokeToken: mutate("token.revoke", (a) => `token:${str(a.id)}`, (ctx, a) => revokeApiToken(ctx.env.db, arg(s.uuid, a.id, "id"))),
  },
  Subscription: {
    generatorChanged: {
      subscribe: async (_p, a, ctx) => {
        const registry = opt(s.registryName, a.registry, "registry");
        return perform(ctx, "events.subscribe", null, async () =>
          subscribe(async (e) => (e.type === "generator" ? ((await generators(ctx.env)).find((g) => g.registryId === e.registryId && (!registry || g.registryName === registry)) ?? null) : null), ctx.signal),
        );
      },
    },
    taskChanged: {
      subscribe: async (_p, a, ctx) => {
        const registry = opt(s.registryName, a.registry, "registry");
        const id = opt(s.taskId, a.id, "id");
        return perform(ctx, "events.subscribe", null, async () =>
          subscribe(async (e) => {
            if (e.type !== "task" || (id && e.id !== id)) return null;
            const t = await getTaskView(ctx.env, e.id);
            return !registry || t.registryName === registry ? t : null;
          }, ctx.signal),
        );
      },
    },
  },
};
