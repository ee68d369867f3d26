/**
 * TagStateStore on Postgres (table `tag_sync_state`). One upsert per tag outcome; rows are keyed
 * by (registry, local repository, tag). Raw rows are converted at this boundary.
 */
import type { Db } from "../db";
import type { TagStateRecord, TagStateStore, TagStateUpdate, TagSyncStatus } from "./tag-state";

interface TagRow {
  registryId: string;
  repository: string;
  tag: string;
  upstreamRepo: string;
  digest: string | null;
  upstreamDigest: string | null;
  status: string;
  lastCheckedAt: Date | null;
  lastChangedAt: Date | null;
  errorCode: string | null;
  errorMessage: string | null;
  size: bigint | null;
  platforms: string[] | null;
}

const STATUSES = new Set<TagSyncStatus>(["pending", "synced", "unchanged", "filtered", "unsigned", "failed"]);

function toRecord(row: TagRow): TagStateRecord {
  return {
    registryId: row.registryId,
    localRepo: row.repository,
    tag: row.tag,
    upstreamRepo: row.upstreamRepo,
    upstreamDigest: row.upstreamDigest,
    localDigest: row.digest,
    size: row.size === null ? null : Number(row.size),
    platforms: row.platforms ?? [],
    status: STATUSES.has(row.status as TagSyncStatus) ? (row.status as TagSyncStatus) : "pending",
    lastCheckedAt: row.lastCheckedAt,
    lastChangedAt: row.lastChangedAt,
    errorCode: row.errorCode,
    errorMessage: row.errorMessage,
  };
}

/** Tag state in Postgres through Prisma. */
export class PrismaTagState implements TagStateStore {
  constructor(private readonly db: Db) {}

  async get(registryId: string, localRepo: string, tag: string): Promise<TagStateRecord | null> {
    const row = await this.db.tagSyncState.findUnique({ where: { registryId_repository_tag: { registryId, repository: localRepo, tag } } });
    return row ? toRecord(row as TagRow) : null;
  }

  async record(u: TagStateUpdate): Promise<void> {
    const ok = u.status === "synced" || u.status === "unchanged";
    const fields = {
      upstreamRepo: u.upstreamRepo,
      status: u.status,
      lastCheckedAt: u.checkedAt,
      errorCode: u.status === "failed" ? (u.error?.code ?? "INTERNAL") : null,
      errorMessage: u.status === "failed" ? (u.error?.message.slice(0, 2000) ?? null) : null,
      ...(ok ? { lastSyncedAt: u.checkedAt } : {}),
      ...(u.upstreamDigest !== undefined ? { upstreamDigest: u.upstreamDigest } : {}),
      ...(u.localDigest !== undefined ? { digest: u.localDigest } : {}),
      ...(u.size !== undefined ? { size: BigInt(u.size) } : {}),
      ...(u.platforms !== undefined ? { platforms: u.platforms } : {}),
      ...(u.changedAt !== undefined ? { lastChangedAt: u.changedAt } : {}),
    };
    await this.db.tagSyncState.upsert({
      where: { registryId_repository_tag: { registryId: u.registryId, repository: u.localRepo, tag: u.tag } },
      create: { registryId: u.registryId, repository: u.localRepo, tag: u.tag, ...fields },
      update: fields,
    });
  }
}
