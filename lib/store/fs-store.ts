/**
 * The filesystem implementation of Store: wires the pieces (layout, staging, commit, reads,
 * delete, gc, verify, recover) to one root directory. Several processes, on one host or several
 * sharing the filesystem, may open the same root at once; all coordination goes through the
 * filesystem (atomic rename/link and the mkdir locks), none through memory.
 */
import { access, mkdir, realpath } from "node:fs/promises";
import type { Readable } from "node:stream";
import { AppError } from "../errors";
import type { Durability } from "./atomic-write";
import { storeError } from "./atomic-write";
import { commitStaging } from "./commit";
import { BoundedMap, type StoreContext } from "./context";
import { deleteManifest, deleteTag } from "./delete";
import { collectGarbage } from "./gc";
import { ensureRealDir, Layout } from "./layout";
import type { LockOptions } from "./lock";
import { parseDigest } from "./names";
import * as reads from "./reads";
import { recoverStore } from "./recover";
import { FsStaging } from "./staging";
import type {
  ByteRange,
  CommitResult,
  Descriptor,
  GcOptions,
  GcReport,
  Page,
  RecoveryReport,
  Staging,
  Store,
  StoredManifest,
  VerifyReport,
} from "./types";
import { verifyStore } from "./verify";

export interface OpenStoreOptions {
  /** Default true. See `Durability`. */
  fsync?: boolean;
  lock?: LockOptions;
  /** Run crash recovery while opening. Default true. */
  recover?: boolean;
}

export class FsStore implements Store {
  private constructor(private readonly ctx: StoreContext) {}

  /** Creates the root if needed, resolves it to a real path once, and recovers from crashes. */
  static async open(root: string, options: OpenStoreOptions = {}): Promise<FsStore> {
    await mkdir(root, { recursive: true });
    const layout = new Layout(await realpath(root));
    for (const dir of [layout.poolDir, layout.reposDir, layout.stagingDir, layout.tmpDir, layout.locksDir]) {
      await ensureRealDir(dir);
    }
    await ensureRealDir(`${layout.poolDir}/sha256`);
    const durability: Durability = { fsync: options.fsync ?? true };
    const store = new FsStore({
      layout,
      durability,
      lock: options.lock ?? {},
      indexCache: new BoundedMap(1000),
      manifestCache: new BoundedMap(5000),
    });
    if (options.recover ?? true) await store.recover();
    return store;
  }

  get root(): string {
    return this.ctx.layout.root;
  }

  recover(): Promise<RecoveryReport> {
    return recoverStore(this.ctx);
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      await access(this.ctx.layout.poolPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  // A full disk can strike in any mkdir, link or write of these two; the caller must see
  // STORE_FULL (not a raw ENOSPC that becomes INTERNAL) wherever it happened.
  stage(repo: string): Promise<Staging> {
    return FsStaging.create(this.ctx, repo).catch((err: unknown) => {
      throw storeError(err);
    });
  }

  commitAll(repo: string, staging: Staging): Promise<CommitResult> {
    return commitStaging(this.ctx, repo, this.own(staging)).catch((err: unknown) => {
      throw storeError(err);
    });
  }

  async cleanupImage(staging: Staging): Promise<void> {
    await this.own(staging).discard();
  }

  async canSkipImage(repo: string, tag: string, digest: string): Promise<boolean> {
    parseDigest(digest);
    if ((await reads.resolveTag(this.ctx, repo, tag)) !== digest) return false;
    return (await reads.readRepoManifest(this.ctx, repo, digest)) !== null;
  }

  resolveTag(repo: string, tag: string): Promise<string | null> {
    return reads.resolveTag(this.ctx, repo, tag);
  }
  getManifest(repo: string, reference: string): Promise<StoredManifest> {
    return reads.getManifest(this.ctx, repo, reference);
  }
  statBlob(repo: string, digest: string): Promise<{ size: number } | null> {
    return reads.statBlob(this.ctx, repo, digest);
  }
  openBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable> {
    return reads.openBlob(this.ctx, repo, digest, range);
  }
  listTags(repo: string, page?: Page): Promise<string[]> {
    return reads.listTags(this.ctx, repo, page);
  }
  listRepositories(page?: Page): Promise<string[]> {
    return reads.listRepositories(this.ctx, page);
  }
  referrers(repo: string, digest: string, options?: { artifactType?: string }): Promise<Descriptor[]> {
    return reads.referrers(this.ctx, repo, digest, options);
  }
  repositorySize(repo: string): Promise<number> {
    return reads.repositorySize(this.ctx, repo);
  }
  storeSize(): Promise<number> {
    return reads.storeSize(this.ctx);
  }

  deleteTag(repo: string, tag: string): Promise<void> {
    return deleteTag(this.ctx, repo, tag);
  }
  deleteManifest(repo: string, digest: string): Promise<void> {
    return deleteManifest(this.ctx, repo, digest);
  }
  gc(options?: GcOptions): Promise<GcReport> {
    return collectGarbage(this.ctx, options);
  }
  verify(): Promise<VerifyReport> {
    return verifyStore(this.ctx);
  }

  /** Staging areas are tied to the store that made them (their files live under its root). */
  private own(staging: Staging): FsStaging {
    if (!(staging instanceof FsStaging) || !staging.dir.startsWith(`${this.ctx.layout.stagingDir}/`)) {
      throw new AppError("BAD_USER_INPUT", "staging area does not belong to this store");
    }
    return staging;
  }
}

/** Opens (creating if needed) the filesystem store at `root`. */
export function openStore(root: string, options?: OpenStoreOptions): Promise<FsStore> {
  return FsStore.open(root, options);
}
