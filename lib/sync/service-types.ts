/**
 * The contracts between the sync engine (lib/sync) and whoever drives it (lib/scheduler, the /v2
 * on-demand path). They mirror the seed's Service and TaskGenerator (shared/seed/zot-sync.go.txt);
 * where Ferry differs, the comment says why.
 */

/** What a running sync operation is given: cancellation, progress and a log sink. */
export interface SyncContext {
  /** Aborted on cancel, shutdown or syncTimeout. Checked at safe points (between blobs/tags). */
  signal: AbortSignal;
  /** Called as work advances; cheap to call often (the caller throttles what it persists). */
  progress?: (p: SyncProgress) => void;
  /** A bounded event log for the task (the caller stores it in task_event). */
  event?: (level: "debug" | "info" | "warn" | "error", message: string, data?: Record<string, unknown>) => void;
}

export interface SyncProgress {
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
  /** Known once the manifests are read; undefined before. */
  bytesTotal?: number;
}

/**
 * The outcome of one tag (or digest). Unlike zot, a repository sync does not stop at the first
 * failing tag: every tag gets one of these.
 */
export type TagOutcome =
  | ({ tag: string; status: "synced"; digest: string; bytes: number } & ReferrerInfo)
  | ({ tag: string; status: "unchanged"; digest: string } & ReferrerInfo)
  | { tag: string; status: "filtered"; reason: string }
  | { tag: string; status: "unsigned"; digest: string }
  | { tag: string; status: "failed"; code: string; message: string };

/**
 * What happened to the referrers of a synced or unchanged image (periodic path). A referrer
 * failure does not fail the tag: the image itself is mirrored and served.
 */
export interface ReferrerInfo {
  /** Referrers and cosign tags copied in this sync. */
  referrers?: number;
  referrersError?: { code: string; message: string };
}

export interface SyncRepoResult {
  /** Local repository name (after destination/stripPrefix mapping). */
  localRepo: string;
  outcomes: TagOutcome[];
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
}

export interface SyncImageResult {
  localRepo: string;
  reference: string;
  digest: string;
  /** False when the image was already present and unchanged (one HEAD, no writes). */
  copied: boolean;
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
}

/** The seed's Service, one per registry configuration. */
export interface SyncService {
  readonly registryName: string;
  /** Next upstream repository after `lastRepo` matching a content rule; "" when the round is done. */
  getNextRepo(lastRepo: string): Promise<string>;
  /** Sync every matching tag of an upstream repository (periodic path). */
  syncRepo(ctx: SyncContext, upstreamRepo: string): Promise<SyncRepoResult>;
  /** Sync one image by tag or digest; `localRepo` is the name a client asked Ferry for (on-demand path). */
  syncImage(ctx: SyncContext, localRepo: string, reference: string): Promise<SyncImageResult>;
  /** Sync referrers of a subject digest in a local repository. */
  syncReferrers(ctx: SyncContext, localRepo: string, subjectDigest: string, artifactTypes: string[]): Promise<SyncRepoResult>;
  /** Forget the cached catalog (end of round). */
  resetCatalog(): void;
  /** Whether on-demand failures get one background retry (maxRetries > 0). */
  canRetryOnError(): boolean;
  /** Upper bound for one on-demand image sync, in milliseconds. */
  getSyncTimeoutMs(): number;
  /** Upstream repository for a local name, or null when no content rule maps it (on-demand routing). */
  upstreamRepoFor(localRepo: string): string | null;
  /** Release connections. */
  close(): Promise<void>;
}
