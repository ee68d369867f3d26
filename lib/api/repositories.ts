/**
 * Mirrored repositories and tags, from the per-tag sync state (what lib/sync recorded). Paged
 * by `(registry name, repository)`.
 */
import { AppError } from "../errors";
import type { ApiEnv } from "./env";

export interface TagView {
  tag: string;
  digest: string | null;
  upstreamDigest: string | null;
  upstreamRepo: string;
  status: string;
  size: number | null;
  platforms: string[];
  lastCheckedAt: Date | null;
  lastSyncedAt: Date | null;
  errorCode: string | null;
}

export interface RepositoryView {
  registryName: string;
  repository: string;
  tagCount: number;
  size: number;
  lastSyncedAt: Date | null;
  tags: TagView[];
}

export interface RepositoryQuery {
  registry?: string | undefined;
  prefix?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

function encodeCursor(registryId: string, repository: string): string {
  return Buffer.from(JSON.stringify([registryId, repository])).toString("base64url");
}

function decodeCursor(c: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(c, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string") return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new AppError("BAD_USER_INPUT", "cursor is not one this API handed out", { details: { field: "cursor" } });
}

export async function listRepositories(env: ApiEnv, q: RepositoryQuery): Promise<{ items: RepositoryView[]; nextCursor: string | null }> {
  const registries = await env.db.registry.findMany({ where: q.registry ? { name: q.registry } : {}, select: { id: true, name: true } });
  if (q.registry && registries.length === 0) throw new AppError("NOT_FOUND", `registry ${q.registry} does not exist`);
  const names = new Map(registries.map((r) => [r.id, r.name]));
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const groups = await env.db.tagSyncState.groupBy({
    by: ["registryId", "repository"],
    where: {
      registryId: { in: [...names.keys()] },
      ...(q.prefix ? { repository: { startsWith: q.prefix } } : {}),
      ...(after ? { OR: [{ registryId: { gt: after[0] } }, { registryId: after[0], repository: { gt: after[1] } }] } : {}),
    },
    orderBy: [{ registryId: "asc" }, { repository: "asc" }],
    take: q.limit + 1,
    _count: { tag: true },
    _sum: { size: true },
    _max: { lastSyncedAt: true },
  });
  const page = groups.slice(0, q.limit);
  const tags = page.length
    ? await env.db.tagSyncState.findMany({
        where: { OR: page.map((g) => ({ registryId: g.registryId, repository: g.repository })) },
        orderBy: [{ registryId: "asc" }, { repository: "asc" }, { tag: "asc" }],
        take: 5000,
      })
    : [];
  const byRepo = new Map<string, TagView[]>();
  for (const t of tags) {
    const key = `${t.registryId}|${t.repository}`;
    const list = byRepo.get(key) ?? [];
    list.push(toTagView(t));
    byRepo.set(key, list);
  }
  const last = page[page.length - 1];
  return {
    items: page.map((g) => ({
      registryName: names.get(g.registryId) ?? "",
      repository: g.repository,
      tagCount: g._count.tag,
      size: Number(g._sum.size ?? 0),
      lastSyncedAt: g._max.lastSyncedAt,
      tags: byRepo.get(`${g.registryId}|${g.repository}`) ?? [],
    })),
    nextCursor: groups.length > q.limit && last ? encodeCursor(last.registryId, last.repository) : null,
  };
}

type TagRow = Awaited<ReturnType<ApiEnv["db"]["tagSyncState"]["findMany"]>>[number];

/** A tag_sync_state row as the API shows it (one mapping for the list and the detail view). */
export function toTagView(t: TagRow): TagView {
  return {
    tag: t.tag,
    digest: t.digest,
    upstreamDigest: t.upstreamDigest,
    upstreamRepo: t.upstreamRepo,
    status: t.status,
    size: t.size === null ? null : Number(t.size),
    platforms: t.platforms,
    lastCheckedAt: t.lastCheckedAt,
    lastSyncedAt: t.lastSyncedAt,
    errorCode: t.errorCode,
  };
}
