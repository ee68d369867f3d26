/**
 * Garbage collection in two phases, each safe against concurrent commits for its own reason.
 *
 * 1. Per repository, under the repository lock: compute what index.json keeps alive
 *    (reachability.ts) and unlink every other name in the repository's `blobs/`. commitAll holds
 *    the same lock from its first link to its index write, so gc sees a repository either before
 *    a commit started or after it finished — never blobs linked but not yet indexed. The lock, not
 *    a grace period, is what makes this phase exact. A repository whose roots cannot all be read
 *    is skipped: gc never guesses what is garbage.
 *
 * 2. The shared pool, without a lock: an entry whose inode has link count 1 is held by no
 *    repository and no staging area. It is unlinked only if its ctime (changed by every link and
 *    unlink) is older than the grace period. The grace period covers the one window the link
 *    count cannot: a sync engine that saw `hasBlob() === true` and skipped the download, but has
 *    not yet called `linkExistingBlob()`. If gc wins that race anyway, linkExistingBlob returns
 *    false and the engine downloads — slower, never wrong. Writers themselves are safe without it:
 *    they link verified content into their staging area before (or instead of) the pool, and
 *    commit re-links from that staging inode if the pool entry vanished (links.ts), so content a
 *    writer holds cannot be lost.
 */
import { lstat, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { StoreContext } from "./context";
import { isCode } from "./layout";
import { withLock } from "./lock";
import { DIGEST_ALGORITHMS } from "./names";
import { readIndexFile } from "./oci-index";
import { reachableFrom } from "./reachability";
import { listRepositories } from "./reads";
import type { GcOptions, GcReport } from "./types";

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export async function collectGarbage(ctx: StoreContext, options: GcOptions = {}): Promise<GcReport> {
  const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS;
  const report: GcReport = { repositories: 0, removedFromRepositories: 0, removedFromPool: 0, bytesFreed: 0, skipped: [] };

  for (const repo of await listRepositories(ctx)) {
    report.repositories++;
    await withLock(ctx.layout.repoLockPath(repo), () => sweepRepository(ctx, repo, report), ctx.lock);
  }

  for (const alg of Object.keys(DIGEST_ALGORITHMS)) {
    const dir = join(ctx.layout.poolDir, alg);
    for (const name of await names(dir)) {
      const path = join(dir, name);
      try {
        const st = await lstat(path);
        if (!st.isFile() || st.nlink !== 1 || Date.now() - st.ctimeMs < grace) continue;
        await unlink(path);
        report.removedFromPool++;
        report.bytesFreed += st.size;
      } catch (err) {
        if (!isCode(err, "ENOENT")) throw err;
      }
    }
  }
  return report;
}

async function sweepRepository(ctx: StoreContext, repo: string, report: GcReport): Promise<void> {
  const oci = await ctx.layout.resolveRepo(repo);
  if (oci === null) return;
  const index = await readIndexFile(join(oci, "index.json"));
  if (index === null) return;
  const { reachable, missingManifests } = await reachableFrom(ctx, repo, index);
  if (missingManifests.length > 0) {
    report.skipped.push({ repo, reason: `${missingManifests.length} referenced manifest(s) unreadable` });
    return;
  }
  for (const alg of Object.keys(DIGEST_ALGORITHMS)) {
    const dir = join(oci, "blobs", alg);
    for (const hex of await names(dir)) {
      if (reachable.has(`${alg}:${hex}`)) continue;
      const path = join(dir, hex);
      try {
        const st = await lstat(path);
        await unlink(path);
        report.removedFromRepositories++;
        // Bytes are only freed when the last name goes; the pool phase counts those.
        if (st.nlink === 1) report.bytesFreed += st.size;
      } catch (err) {
        if (!isCode(err, "ENOENT")) throw err;
      }
    }
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isCode(err, "ENOENT")) return [];
    throw err;
  }
}
