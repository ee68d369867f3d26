/** Tasks as the APIs show them: the scheduler's queue and history, read through Prisma. */
import type { Db } from "../db";
import { AppError } from "../errors";
import { cancel, enqueue, PRIORITY, retry, type TaskRecord } from "../scheduler";
import { parseRegistryConfig } from "../sync";
import type { ApiEnv } from "./env";
import { registryIdOf } from "./registries";

export interface TaskView extends Omit<TaskRecord, "leaseOwner" | "leaseUntil"> {
  registryName: string | null;
}

export interface TaskEventView {
  id: string;
  at: Date;
  level: string;
  message: string;
  data: unknown;
}

type TaskRow = Awaited<ReturnType<Db["task"]["findFirst"]>> & object;

function toView(r: TaskRow, names: Map<string, string>): TaskView {
  return {
    id: String(r.id),
    kind: r.kind as TaskView["kind"],
    registryId: r.registryId,
    registryName: r.registryId ? (names.get(r.registryId) ?? null) : null,
    repository: r.repository,
    reference: r.reference,
    priority: r.priority,
    status: r.status as TaskView["status"],
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    trigger: r.trigger,
    runAfter: r.runAfter,
    queuedAt: r.queuedAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    bytesCopied: Number(r.bytesCopied),
    blobsCopied: r.blobsCopied,
    blobsSkipped: r.blobsSkipped,
    bytesTotal: r.bytesTotal === null ? null : Number(r.bytesTotal),
    outcomes: (Array.isArray(r.outcomes) ? r.outcomes : []) as TaskView["outcomes"],
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
  };
}

async function registryNames(db: Db, ids: Iterable<string | null>): Promise<Map<string, string>> {
  const want = [...new Set([...ids].filter((x): x is string => x !== null))];
  if (want.length === 0) return new Map();
  const rows = await db.registry.findMany({ where: { id: { in: want } }, select: { id: true, name: true } });
  return new Map(rows.map((r) => [r.id, r.name]));
}

export interface TaskQuery {
  registry?: string | undefined;
  status?: string[] | undefined;
  kind?: string | undefined;
  repository?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /** Tasks with a smaller id than this (newest first). */
  cursor?: string | undefined;
  limit: number;
}

/** Newest first; `nextCursor` is the last id of the page when there is more. */
export async function listTasks(env: ApiEnv, q: TaskQuery): Promise<{ items: TaskView[]; nextCursor: string | null }> {
  const registryId = q.registry === undefined ? undefined : await registryIdOf(env.db, q.registry);
  const rows = await env.db.task.findMany({
    where: {
      ...(registryId ? { registryId } : {}),
      ...(q.status?.length ? { status: { in: q.status } } : {}),
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.repository ? { repository: q.repository } : {}),
      ...(q.since || q.until ? { queuedAt: { ...(q.since ? { gte: new Date(q.since) } : {}), ...(q.until ? { lt: new Date(q.until) } : {}) } } : {}),
      ...(q.cursor ? { id: { lt: BigInt(q.cursor) } } : {}),
    },
    orderBy: { id: "desc" },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  const names = await registryNames(env.db, page.map((r) => r.registryId));
  return { items: page.map((r) => toView(r, names)), nextCursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null };
}

export async function getTaskView(env: ApiEnv, id: string): Promise<TaskView & { events: TaskEventView[] }> {
  if (!/^\d{1,18}$/.test(id)) throw new AppError("NOT_FOUND", `task ${id.slice(0, 40)} does not exist`);
  const row = await env.db.task.findUnique({ where: { id: BigInt(id) } });
  if (!row) throw new AppError("NOT_FOUND", `task ${id} does not exist`);
  const events = await env.db.taskEvent.findMany({ where: { taskId: row.id }, orderBy: { id: "asc" }, take: 500 });
  const names = await registryNames(env.db, [row.registryId]);
  return { ...toView(row, names), events: events.map((e) => ({ id: String(e.id), at: e.at, level: e.level, message: e.message, data: e.data })) };
}

export async function cancelTask(env: ApiEnv, id: string): Promise<TaskView> {
  await cancel(env.sql, id);
  return getTaskView(env, id);
}

export async function retryTask(env: ApiEnv, id: string, by: string): Promise<TaskView> {
  const copy = await retry(env.sql, id, `user:${by}`);
  return getTaskView(env, copy.id);
}

/**
 * Queues a sync of one upstream repository (or one image of it) at operator priority. Joins the
 * identical live task when there is one (the queue deduplicates).
 */
export async function queueSync(env: ApiEnv, registry: string, input: { repository: string; reference?: string }, by: string): Promise<TaskView> {
  const r = await env.db.registry.findUnique({ where: { name: registry }, select: { id: true, config: true } });
  if (!r) throw new AppError("NOT_FOUND", `registry ${registry} does not exist`);
  let maxRetries = 3;
  try {
    maxRetries = parseRegistryConfig(r.config).maxRetries;
  } catch {
    // A config stored before validation tightened: queue with the default instead of refusing.
  }
  const { task } = await enqueue(env.sql, {
    kind: input.reference ? "syncImage" : "syncRepo",
    registryId: r.id,
    repository: input.repository,
    reference: input.reference ?? null,
    priority: PRIORITY.operator,
    trigger: `user:${by}`,
    maxAttempts: maxRetries + 1,
  });
  return getTaskView(env, task.id);
}
