/**
 * The store's public contract. `FsStore` implements it on a local or shared filesystem; an object
 * store can implement the same interface later. The sync engine uses the Destination part
 * (`canSkipImage`, `stage` + `commitAll`, `cleanupImage`); `/v2` and the UI use the reads.
 */
import type { Readable } from "node:stream";
import type { Body } from "./atomic-write";
import type { Descriptor } from "./manifest";

export type { Body } from "./atomic-write";
export type { Descriptor } from "./manifest";

/** Result of writing or linking one blob into a staging area. */
export interface BlobWriteResult {
  digest: string;
  size: number;
  /** True when the content was already in the store and no bytes were written. */
  deduped: boolean;
}

/**
 * A private area holding one image in flight. Nothing in it is visible to reads until
 * `Store.commitAll`; `Store.cleanupImage` discards it. Not shared between processes.
 */
export interface Staging {
  readonly id: string;
  readonly repo: string;
  /**
   * Streams a blob in, verifying digest and size. When the store already holds the digest this is
   * a no-op: `body` is destroyed unread and `deduped` is true.
   */
  writeBlob(digest: string, size: number, body: Body): Promise<BlobWriteResult>;
  /**
   * Same as writeBlob for a regular file on this host (EINVAL otherwise): copied in the kernel
   * (copy_file_range), the copy hashed and flushed in a worker thread. The stored bytes are what
   * is verified, never `path` itself. When the store already holds the digest, `path` is not read.
   */
  writeBlobFromFile(digest: string, size: number, path: string): Promise<BlobWriteResult>;
  /**
   * Links a blob the store already holds (see `Store.hasBlob`); false when it holds no such blob.
   * With `size`, content of another size is refused (DIGEST_MISMATCH): a manifest that lies about
   * a blob's size must not be committed just because the bytes happen to be in the store.
   */
  linkExistingBlob(digest: string, size?: number): Promise<boolean>;
  /** Stores a manifest after checking it parses and, if given, matches `digest`. Returns its digest. */
  writeManifest(bytes: Uint8Array, options: { mediaType: string; digest?: string }): Promise<string>;
  /** Points `tag` at a manifest staged here (or already in the repository) at commit. */
  tag(tag: string, digest: string): void;
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start?: number;
  end?: number;
}

/** Distribution-spec paging: at most `n` names lexically after `last`. */
export interface Page {
  n?: number;
  last?: string;
}

export interface CommitResult {
  repo: string;
  tags: string[];
  manifests: number;
  blobs: number;
}

export interface RecoveryReport {
  tmpRemoved: number;
  stagingRemoved: number;
  brokenLocksRemoved: number;
}

export interface GcOptions {
  /**
   * Pool blobs referenced by nothing are only removed once their inode has been unchanged this
   * long (ctime). Default 1 hour. See gc.ts.
   */
  gracePeriodMs?: number;
}

export interface GcReport {
  repositories: number;
  removedFromRepositories: number;
  removedFromPool: number;
  bytesFreed: number;
  /** Repositories left alone because a root manifest was unreadable (GC must not guess). */
  skipped: Array<{ repo: string; reason: string }>;
}

export interface VerifyProblem {
  kind: "corrupt" | "missing" | "invalid";
  path: string;
  repo?: string;
  digest?: string;
  detail: string;
}

export interface VerifyReport {
  /** False when anything is corrupt, missing or invalid; unreferenced blobs alone keep it true. */
  ok: boolean;
  blobsChecked: number;
  bytesChecked: number;
  repositories: number;
  corrupt: VerifyProblem[];
  missing: VerifyProblem[];
  invalid: VerifyProblem[];
  /** Blobs no manifest references: harmless, collected by gc. */
  unreferenced: Array<{ repo: string | null; digest: string }>;
}

export interface Store {
  readonly root: string;
  /** Removes what crashed writers left (temp files, staging areas, broken locks). */
  recover(): Promise<RecoveryReport>;

  /** True when any repository (or staging area) already holds this content. */
  hasBlob(digest: string): Promise<boolean>;
  stage(repo: string): Promise<Staging>;
  /** Moves a staged image into `repo`: blobs, then manifests children-first, then index.json. */
  commitAll(repo: string, staging: Staging): Promise<CommitResult>;
  /** Discards a staging area; safe to call twice or after commitAll. */
  cleanupImage(staging: Staging): Promise<void>;
  /** True when `repo:tag` already points at `digest` and that manifest is stored. */
  canSkipImage(repo: string, tag: string, digest: string): Promise<boolean>;

  resolveTag(repo: string, tag: string): Promise<string | null>;
  /** Throws NOT_FOUND when the repository or manifest is unknown. */
  getManifest(repo: string, reference: string): Promise<StoredManifest>;
  statBlob(repo: string, digest: string): Promise<{ size: number } | null>;
  /** Throws NOT_FOUND, or RANGE_NOT_SATISFIABLE for a range outside the blob. */
  openBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable>;
  /** Throws NOT_FOUND when the repository is unknown. */
  listTags(repo: string, page?: Page): Promise<string[]>;
  listRepositories(page?: Page): Promise<string[]>;
  referrers(repo: string, digest: string, options?: { artifactType?: string }): Promise<Descriptor[]>;
  /** Bytes of the distinct blobs and manifests the repository holds. */
  repositorySize(repo: string): Promise<number>;
  /** Bytes of distinct content in the whole store (shared blobs counted once). */
  storeSize(): Promise<number>;

  deleteTag(repo: string, tag: string): Promise<void>;
  /** Removes a manifest and every tag pointing at it; its blobs go at the next gc. */
  deleteManifest(repo: string, digest: string): Promise<void>;
  gc(options?: GcOptions): Promise<GcReport>;
  verify(): Promise<VerifyReport>;
}
