/**
 * Per-tag sync state: what Ferry knows about each mirrored tag (upstream and local digest, size,
 * platforms, when it was last checked and last changed, the last outcome). It is what makes an
 * unchanged tag cost one HEAD: when the upstream digest equals the recorded one and the store
 * still has the recorded local digest under the tag, nothing is copied. It also lets a tag whose
 * local digest differs from upstream (a platform-filtered index) be recognised as unchanged.
 *
 * `TagStateStore` is the interface; `MemoryTagState` serves unit tests and tools, and
 * `PrismaTagState` (tag-state-prisma.ts) is the durable one.
 */

/** The last outcome of a tag, as stored. */
export type TagSyncStatus = "pending" | "synced" | "unchanged" | "filtered" | "unsigned" | "failed";

export interface TagStateRecord {
  registryId: string;
  localRepo: string;
  tag: string;
  upstreamRepo: string;
  /** Digest the tag had upstream when last synced. */
  upstreamDigest: string | null;
  /** Digest the tag points at in the store (differs from upstream after platform filtering). */
  localDigest: string | null;
  /** Bytes of the image: manifests plus distinct blobs, as copied. */
  size: number | null;
  /** `os/arch[/variant]` of the platforms held locally (empty for single-platform images without one). */
  platforms: string[];
  status: TagSyncStatus;
  lastCheckedAt: Date | null;
  /** When the local digest last changed. */
  lastChangedAt: Date | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/**
 * What one sync learnt about a tag. Absent fields keep their stored values (a failure does not
 * forget the digest that is still served).
 */
export interface TagStateUpdate {
  registryId: string;
  localRepo: string;
  tag: string;
  upstreamRepo: string;
  status: TagSyncStatus;
  checkedAt: Date;
  upstreamDigest?: string;
  localDigest?: string;
  size?: number;
  platforms?: string[];
  /** Set when the local digest changed in this sync. */
  changedAt?: Date;
  /** For failures; cleared on any other status. */
  error?: { code: string; message: string };
}

export interface TagStateStore {
  get(registryId: string, localRepo: string, tag: string): Promise<TagStateRecord | null>;
  record(update: TagStateUpdate): Promise<void>;
}

/** Applies an update to a stored record (or none): shared by both implementations. */
export function applyTagUpdate(prev: TagStateRecord | null, u: TagStateUpdate): TagStateRecord {
  return {
    registryId: u.registryId,
    localRepo: u.localRepo,
    tag: u.tag,
    upstreamRepo: u.upstreamRepo,
    upstreamDigest: u.upstreamDigest ?? prev?.upstreamDigest ?? null,
    localDigest: u.localDigest ?? prev?.localDigest ?? null,
    size: u.size ?? prev?.size ?? null,
    platforms: u.platforms ?? prev?.platforms ?? [],
    status: u.status,
    lastCheckedAt: u.checkedAt,
    lastChangedAt: u.changedAt ?? prev?.lastChangedAt ?? null,
    errorCode: u.status === "failed" ? (u.error?.code ?? "INTERNAL") : null,
    errorMessage: u.status === "failed" ? (u.error?.message ?? null) : null,
  };
}

/** In-memory TagStateStore. */
export class MemoryTagState implements TagStateStore {
  readonly rows = new Map<string, TagStateRecord>();

  async get(registryId: string, localRepo: string, tag: string): Promise<TagStateRecord | null> {
    const r = this.rows.get(key(registryId, localRepo, tag));
    return r ? { ...r, platforms: [...r.platforms] } : null;
  }

  async record(update: TagStateUpdate): Promise<void> {
    const k = key(update.registryId, update.localRepo, update.tag);
    this.rows.set(k, applyTagUpdate(this.rows.get(k) ?? null, update));
  }
}

function key(registryId: string, localRepo: string, tag: string): string {
  return `${registryId}\u0000${localRepo}\u0000${tag}`;
}
