/**
 * Reads the dashboard needs beyond the control API's lists: store totals, a history of what was
 * synced over time (for the overview's chart), and one repository with its referrers. Thin
 * presenters over the per-tag sync state, the task history and the store.
 */
import { AppError } from "../errors";
import { getRuntime } from "../runtime";
import type { Store } from "../store";
import type { ApiEnv } from "./env";
import { registryIdOf } from "./registries";
import { toTagView, type TagView } from "./repositories";

export interface StoreTotals {
  registries: number;
  repositories: number;
  tags: number;
  /** Sum of the synced images' sizes (shared blobs counted per image). */
  imageBytes: number;
  /** Bytes of distinct content on disk (shared blobs once); null when the store could not say. */
  storeBytes: number | null;
  lastSyncedAt: Date | null;
}

async function store(): Promise<Store> {
  return (await getRuntime()).store;
}

export async function storeTotals(env: ApiEnv): Promise<StoreTotals> {
  const [row] = await env.sql.query<{ registries: number; repositories: number; tags: number; bytes: string | null; last: Date | null }>(
    `SELECT (SELECT count(*)::int FROM registry) AS registries,
            (SELECT count(*)::int FROM (SELECT DISTINCT registry_id, repository FROM tag_sync_state WHERE digest IS NOT NULL) r) AS repositories,
            count(*) FILTER (WHERE digest IS NOT NULL)::int AS tags,
            sum(size) FILTER (WHERE digest IS NOT NULL)::text AS bytes,
            max(last_synced_at) AS last
       FROM tag_sync_state`,
  );
  let storeBytes: number | null = null;
  try {
    storeBytes = await (await store()).storeSize();
  } catch (err) {
    env.log.warn({ err }, "store size unavailable");
  }
  return {
    registries: row?.registries ?? 0,
    repositories: row?.repositories ?? 0,
    tags: row?.tags ?? 0,
    imageBytes: Number(row?.bytes ?? 0),
    storeBytes,
    lastSyncedAt: row?.last ?? null,
  };
}

export const HISTORY_RANGES = { "24h": { spanMs: 24 * 3_600_000, bucketMs: 3_600_000 }, "7d": { spanMs: 7 * 24 * 3_600_000, bucketMs: 6 * 3_600_000 } } as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

export interface HistoryBucket {
  at: Date;
  bytes: number;
  /** Tags whose image was copied (outcome `synced`). */
  images: number;
  tasks: number;
  failed: number;
}

/**
 * Bytes and images synced per bucket over the range, from finished tasks (by `finished_at`).
 * Every bucket is present (zeros included) so a chart needs no gap logic.
 */
export async function syncHistory(env: ApiEnv, range: HistoryRange, registry?: string): Promise<{ range: HistoryRange; bucketMs: number; buckets: HistoryBucket[] }> {
  const { spanMs, bucketMs } = HISTORY_RANGES[range];
  const registryId = registry === undefined ? null : await registryIdOf(env.db, registry);
  const end = Math.ceil(Date.now() / bucketMs) * bucketMs;
  const start = end - spanMs;
  const rows = await env.sql.query<{ b: string; bytes: string; images: number; tasks: number; failed: number }>(
    `SELECT floor(extract(epoch FROM finished_at) * 1000 / $2::bigint)::bigint::text AS b,
            sum(bytes_copied)::text AS bytes,
            sum((SELECT count(*) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(outcomes) = 'array' THEN outcomes ELSE '[]'::jsonb END) o
                  WHERE o->>'status' = 'synced'))::int AS images,
            count(*)::int AS tasks,
            count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM task
      WHERE finished_at >= $1::timestamptz AND ($3::uuid IS NULL OR registry_id = $3::uuid)
      GROUP BY 1`,
    new Date(start).toISOString(),
    bucketMs,
    registryId,
  );
  const by = new Map(rows.map((r) => [Number(r.b) * bucketMs, r]));
  const buckets: HistoryBucket[] = [];
  for (let t = start; t < end; t += bucketMs) {
    const r = by.get(t);
    buckets.push({ at: new Date(t), bytes: Number(r?.bytes ?? 0), images: r?.images ?? 0, tasks: r?.tasks ?? 0, failed: r?.failed ?? 0 });
  }
  return { range, bucketMs, buckets };
}

export interface ReferrerView {
  digest: string;
  artifactType: string | null;
  mediaType: string;
  size: number;
  annotations: Record<string, string>;
}

export interface RepositoryDetail {
  registryName: string;
  repository: string;
  /** Upstream registry urls (the first is the primary). */
  upstreamUrls: string[];
  size: number;
  lastSyncedAt: Date | null;
  tags: Array<TagView & { referrers: ReferrerView[]; errorMessage: string | null; lastChangedAt: Date | null }>;
}

/** One mirrored repository: every tag with its state, and the referrers (signatures, SBOMs) the store holds for each digest. */
export async function repositoryDetail(env: ApiEnv, registry: string, repository: string): Promise<RepositoryDetail> {
  const reg = await env.db.registry.findUnique({ where: { name: registry }, select: { id: true, config: true } });
  if (!reg) throw new AppError("NOT_FOUND", `registry ${registry} does not exist`);
  const rows = await env.db.tagSyncState.findMany({ where: { registryId: reg.id, repository }, orderBy: { tag: "asc" }, take: 2000 });
  if (rows.length === 0) throw new AppError("NOT_FOUND", `repository ${repository} of registry ${registry} is not mirrored`);
  const s = await store();
  const referrersOf = new Map<string, ReferrerView[]>();
  for (const d of [...new Set(rows.map((r) => r.digest).filter((d): d is string => d !== null))].slice(0, 200)) {
    try {
      const list = await s.referrers(repository, d);
      referrersOf.set(d, list.map((x) => ({ digest: x.digest, artifactType: x.artifactType ?? null, mediaType: x.mediaType, size: x.size, annotations: x.annotations ?? {} })));
    } catch {
      referrersOf.set(d, []);
    }
  }
  const urls = (reg.config as { urls?: unknown }).urls;
  let last: Date | null = null;
  let size = 0;
  for (const r of rows) {
    if (r.lastSyncedAt && (!last || r.lastSyncedAt > last)) last = r.lastSyncedAt;
    size += r.size === null ? 0 : Number(r.size);
  }
  return {
    registryName: registry,
    repository,
    upstreamUrls: Array.isArray(urls) ? urls.filter((u): u is string => typeof u === "string") : [],
    size,
    lastSyncedAt: last,
    tags: rows.map((t) => ({
      ...toTagView(t),
      lastChangedAt: t.lastChangedAt,
      errorMessage: t.errorMessage,
      referrers: t.digest ? (referrersOf.get(t.digest) ?? []) : [],
    })),
  };
}
