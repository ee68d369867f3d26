/**
 * Mirrored repositories and tags, from the per-tag sync state (what lib/sync recorded). Paged
 * by `(registry name, repository)`.
 */
import { AppError } from "../errors";
import { getRuntime } from "../runtime";
import { ContentRules, parseContentRules } from "../sync";
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
  /** The upstream repository it comes from (upstream source); null when unknown. */
  upstreamRepo: string | null;
  /** Periodic rounds sync it: the registry has a pollInterval and the first matching rule is periodic. */
  periodic: boolean;
  tags: TagView[];
}

/**
 * Whether a registry's periodic rounds cover an upstream repository. Reads only `pollInterval` and
 * `content` of the stored config (the rest may need secrets to validate); a config that no longer
 * parses covers nothing.
 */
export function roundCoverage(config: Record<string, unknown>): (upstreamRepo: string | null) => boolean {
  if (config.pollInterval === undefined || config.pollInterval === null) return () => false;
  let rules: ContentRules;
  try {
    rules = new ContentRules(parseContentRules(config.content));
  } catch {
    return () => false;
  }
  return (upstreamRepo) => upstreamRepo !== null && rules.inRounds(upstreamRepo);
}

/** Bytes of the distinct blobs and manifests the store holds for a repository; null when the store cannot say. */
export async function repositoryStoreBytes(repository: string): Promise<number | null> {
  try {
    return await (await getRuntime()).store.repositorySize(repository);
  } catch {
    return null;
  }
}

/** Referrers (signatures, SBOMs) the store holds for one digest of a repository; [] when none or unreadable. */
export async function tagReferrers(repository: string, digest: string | null): Promise<Array<{ digest: string; artifactType: string | null; mediaType: string; size: number; annotations: Record<string, string> }>> {
  if (!digest) return [];
  try {
    const list = await (await getRuntime()).store.referrers(repository, digest);
    return list.map((x) => ({ digest: x.digest, artifactType: x.artifactType ?? null, mediaType: x.mediaType, size: x.size, annotations: x.annotations ?? {} }));
  } catch {
    return [];
  }
}

/** What the repository page adds to lib/api/dashboard's repositoryDetail: upstream source, coverage, store usage. */
export async function repositoryCoverage(env: ApiEnv, registry: string, repository: string): Promise<{ upstreamRepo: string | null; periodic: boolean; storeBytes: number | null }> {
  const reg = await env.db.registry.findUnique({ where: { name: registry }, select: { id: true, config: true } });
  if (!reg) throw new AppError("NOT_FOUND", `registry ${registry} does not exist`);
  const row = await env.db.tagSyncState.findFirst({ where: { registryId: reg.id, repository }, select: { upstreamRepo: true } });
  const upstreamRepo = row?.upstreamRepo ?? null;
  return { upstreamRepo, periodic: roundCoverage(reg.config as Record<string, unknown>)(upstreamRepo), storeBytes: await repositoryStoreBytes(repository) };
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
  const registries = await env.db.registry.findMany({ where: q.registry ? { name: q.registry } : {}, select: { id: true, name: true, config: true } });
  if (q.registry && registries.length === 0) throw new AppError("NOT_FOUND", `registry ${q.registry} does not exist`);
  const names = new Map(registries.map((r) => [r.id, r.name]));
  const coverage = new Map(registries.map((r) => [r.id, roundCoverage(r.config as Record<string, unknown>)]));
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
    items: page.map((g) => {
      const repoTags = byRepo.get(`${g.registryId}|${g.repository}`) ?? [];
      const upstreamRepo = repoTags[0]?.upstreamRepo ?? null;
      return {
        registryName: names.get(g.registryId) ?? "",
        repository: g.repository,
        tagCount: g._count.tag,
        size: Number(g._sum.size ?? 0),
        lastSyncedAt: g._max.lastSyncedAt,
        upstreamRepo,
        periodic: coverage.get(g.registryId)?.(upstreamRepo) ?? false,
        tags: repoTags,
      };
    }),
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
