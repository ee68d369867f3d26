/**
 * Staging: one image in flight. Content lands in the shared pool as soon as it is verified (so a
 * concurrent sync of another repository can dedupe against it), and the staging area holds a hard
 * link to it, `<root>/staging/<owner>.<alg>-<hex>`; what is staged is remembered in memory. Reads
 * never look here, so a crashed writer's staging names are invisible and recovery simply deletes
 * them (the owner is the name's `<host>~<boot>~<pid>~<unique>` part, as for temp files).
 *
 * Names, not a folder per image: staging an image creates no directory and discarding it is one
 * unlink per name, where a folder cost a mkdir and an rmdir per image (before that, three of each
 * and a recursive walk). Creating and removing directory inodes was a large part of a small-image
 * sync's store CPU on the benchmark VM.
  */
import { createHash } from "node:crypto";
import { rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "../errors";
import { storeError, writeBytesTemp, writeVerifiedTemp, type Body } from "./atomic-write";
import type { StoreContext } from "./context";
import { importFile } from "./file-import";
import { FS_BATCH_MIN, runFsBatch } from "./import-pool";
import { ensureRealDir, isCode, ownedName } from "./layout";
import { linkFromPool, linkIfAbsent } from "./links";
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from "./manifest";
import { assertRepoName, assertTag, parseDigest, type DigestAlgorithm } from "./names";
import type { BlobWriteResult, Staging } from "./types";

export interface StagedManifest {
  digest: string;
  mediaType: string;
  size: number;
  parsed: ParsedManifest;
}

export class FsStaging implements Staging {
  readonly blobs = new Map<string, number>();
  readonly manifests = new Map<string, StagedManifest>();
  readonly tags = new Map<string, string>();
  readonly algorithms = new Set<DigestAlgorithm>();
  closed = false;
  /** Set for the duration of commitAll: the staging area must not change while it is moved. */
  committing = false;
  /** Every name this object tried to create, so discard can remove them without listing. */
  private readonly names = new Set<string>();

  private constructor(
    readonly id: string,
    readonly repo: string,
    /** `<root>/staging/<id>`: the prefix of this staging area's names. */
    readonly dir: string,
    private readonly ctx: StoreContext,
  ) {}

  static async create(ctx: StoreContext, repo: string): Promise<FsStaging> {
    assertRepoName(repo);
    const id = ownedName();
    return new FsStaging(id, repo, join(ctx.layout.stagingDir, id), ctx);
  }

  /** The staging name for `digest`; it keeps the inode alive until commit. */
  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return `${this.dir}.${algorithm}-${hex}`;
  }

  async writeBlob(digest: string, size: number, body: Body): Promise<BlobWriteResult> {
    this.assertOpen();
    const { algorithm } = parseDigest(digest);
    await this.ensureAlgorithm(algorithm);
    const known = this.blobs.get(digest) ?? this.manifests.get(digest)?.size;
    const existing = known ?? (await this.linkExisting(digest));
    if (existing !== null) {
      discard(body);
      return this.deduped(digest, size, existing);
    }
    const tmp = await writeVerifiedTemp(this.ctx.layout.tmpDir, digest, size, body, this.ctx.durability);
    await this.adopt(tmp, digest);
    this.blobs.set(digest, size);
    return { digest, size, deduped: false };
  }

  /**
   * The dedupe probe, copy, verification, rename into staging and pool link all happen in one
   * worker job (file-import.ts): for this thread, one answer per file (several small files share a
   * message) instead of a worker round trip plus three fs calls on libuv's pool.
   */
  async writeBlobFromFile(digest: string, size: number, path: string): Promise<BlobWriteResult> {
    this.assertOpen();
    const { algorithm } = parseDigest(digest);
    await this.ensureAlgorithm(algorithm);
    const known = this.blobs.get(digest) ?? this.manifests.get(digest)?.size;
    if (known !== undefined) return this.deduped(digest, size, known);
    const staged = this.path(digest);
    this.names.add(staged);
    const { layout, durability } = this.ctx;
    let existing: number | null;
    try {
      existing = await importFile({ tmpDir: layout.tmpDir, digest, size, source: path, staged, pool: layout.poolPath(digest), durability });
    } catch (err) {
      // A discard between the worker's rename and its pool link makes the link fail (ENOENT):
      // the caller learns of the discard, as for any other write it overlapped.
      await this.assertNotDiscarded(staged);
      throw err;
    }
    await this.assertNotDiscarded(staged);
    if (existing !== null) return this.deduped(digest, size, existing);
    this.blobs.set(digest, size);
    return { digest, size, deduped: false };
  }

  async linkExistingBlob(digest: string, size?: number): Promise<boolean> {
    this.assertOpen();
    const { algorithm } = parseDigest(digest);
    await this.ensureAlgorithm(algorithm);
    const known = this.blobs.get(digest) ?? this.manifests.get(digest)?.size ?? (await this.linkExisting(digest));
    if (known === null) return false;
    if (size !== undefined && known !== size) {
      throw new AppError("DIGEST_MISMATCH", "blob size differs from the stored content's size", {
        details: { digest, size, stored: known },
      });
    }
    if (!this.manifests.has(digest)) this.blobs.set(digest, known);
    return true;
  }

  async writeManifest(bytes: Uint8Array, options: { mediaType: string; digest?: string }): Promise<string> {
    this.assertOpen();
    if (bytes.byteLength > MAX_MANIFEST_BYTES) {
      throw new AppError("BAD_USER_INPUT", "manifest is too large", {
        details: { size: bytes.byteLength, max: MAX_MANIFEST_BYTES },
      });
    }
    const algorithm = options.digest === undefined ? "sha256" : parseDigest(options.digest).algorithm;
    const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
    if (options.digest !== undefined && options.digest !== digest) {
      throw new AppError("DIGEST_MISMATCH", "manifest does not match its digest", {
        details: { expected: options.digest, actual: digest },
      });
    }
    const parsed = parseManifest(bytes, options.mediaType);
    if (this.manifests.has(digest)) return digest;
    await this.ensureAlgorithm(algorithm);
    if ((await this.linkExisting(digest)) === null) {
      const tmp = await writeBytesTemp(this.ctx.layout.tmpDir, bytes, this.ctx.durability);
      await this.adopt(tmp, digest);
    }
    this.blobs.delete(digest);
    this.manifests.set(digest, { digest, mediaType: parsed.mediaType, size: bytes.byteLength, parsed });
    return digest;
  }

  tag(tag: string, digest: string): void {
    this.assertOpen();
    assertTag(tag);
    parseDigest(digest);
    this.tags.set(tag, digest);
  }

  assertOpen(): void {
    if (this.closed || this.committing) {
      throw new AppError("CONFLICT", "staging area is being committed, or was already committed or discarded");
    }
  }

  async discard(): Promise<void> {
    this.closed = true;
    const names = [...this.names];
    this.names.clear();
    // A commit of many blobs leaves as many names: a worker unlinks them (import-pool.ts).
    if (names.length >= FS_BATCH_MIN) await runFsBatch({ kind: "unlink", paths: names });
    else await Promise.all(names.map((name) => unlink(name).catch(ignoreMissing)));
  }

  /** The answer for content the store already held (`stored` bytes): no bytes were written. */
  private deduped(digest: string, size: number, stored: number): BlobWriteResult {
    if (stored !== size) {
      throw new AppError("DIGEST_MISMATCH", "blob size differs from the stored content's size", {
        details: { digest, size, stored },
      });
    }
    this.blobs.set(digest, size);
    return { digest, size, deduped: true };
  }

  /** Links pooled content into staging; returns its size, or null when the pool lacks it. */
  private async linkExisting(digest: string): Promise<number | null> {
    const dst = this.path(digest);
    this.names.add(dst);
    if (!(await linkFromPool(this.ctx.layout.poolPath(digest), dst))) return null;
    await this.assertNotDiscarded(dst);
    return (await stat(dst)).size;
  }

  /**
   * A write still in flight when the image was discarded (a failed sibling blob makes the caller
   * clean up at once) may create its name after discard's unlinks: it removes that name itself.
   */
  private async assertNotDiscarded(name: string): Promise<void> {
    if (!this.closed) return;
    await unlink(name).catch(ignoreMissing);
    throw new AppError("CONFLICT", "staging area was discarded while content was being staged");
  }

  /**
   * Takes a verified temp file: renamed to its staging name first (from then on the inode is ours
   * whatever gc does), then linked into the pool (an existing pool entry wins: same digest, same
   * bytes). Rename rather than link + unlink: one filesystem operation less per blob.
   */
  private async adopt(tmp: string, digest: string): Promise<void> {
    const staged = this.path(digest);
    this.names.add(staged);
    try {
      await rename(tmp, staged);
    } catch (err) {
      await rm(tmp, { force: true });
      throw storeError(err);
    }
    await this.assertNotDiscarded(staged);
    await linkIfAbsent(staged, this.ctx.layout.poolPath(digest));
  }

  private async ensureAlgorithm(algorithm: DigestAlgorithm): Promise<void> {
    if (this.algorithms.has(algorithm)) return;
    await ensureRealDir(join(this.ctx.layout.poolDir, algorithm));
    this.algorithms.add(algorithm);
  }
}

/** Dedupe skips the body: release it (an HTTP response would otherwise hold its socket). */
function discard(body: Body): void {
  const maybe = body as { destroy?: () => void };
  if (typeof maybe.destroy === "function") maybe.destroy();
}

function ignoreMissing(err: unknown): void {
  if (!isCode(err, "ENOENT")) throw err;
}
