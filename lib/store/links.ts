/**
 * Dedupe by hard links. Every distinct content has one inode; its names are
 * `<root>/blobs/<alg>/<hex>` (the pool), plus one per repository and staging area holding it.
 * `link(2)` is atomic like `rename(2)`: the new name appears with the complete, already verified
 * content or not at all. The inode's link count says who holds it: a pool entry with nlink 1 is
 * held by nobody else, which is what gc looks for.
 */
import { link } from "node:fs/promises";
import { storeError } from "./atomic-write";
import { FS_BATCH_MIN, runFsBatch } from "./import-pool";
import { isCode } from "./layout";

/** link(src, dst); an existing dst is fine (same name means same verified content). */
export async function linkIfAbsent(src: string, dst: string): Promise<void> {
  try {
    await link(src, dst);
  } catch (err) {
    if (isCode(err, "EEXIST")) return;
    throw storeError(err);
  }
}

/**
 * Gives `dst` the pool's inode for this content. Returns false when the pool has no such entry
 * (never written, or just removed by gc).
 */
export async function linkFromPool(poolPath: string, dst: string): Promise<boolean> {
  try {
    await link(poolPath, dst);
    return true;
  } catch (err) {
    if (isCode(err, "EEXIST")) return true;
    if (isCode(err, "ENOENT")) return false;
    throw storeError(err);
  }
}

/**
 * Gives `dst` the content held at `holder` (a staging or temp name of the same inode), preferring
 * the pool's inode so that repositories share one copy. If the pool lost its entry (gc raced us),
 * the holder's inode goes back into the pool: because the holder kept the inode alive, gc can
 * never make content disappear from under a writer.
 */
export async function linkPreferPool(poolPath: string, holder: string, dst: string): Promise<void> {
  if (await linkFromPool(poolPath, dst)) return;
  await linkIfAbsent(holder, poolPath);
  await linkIfAbsent(holder, dst);
}

/**
 * linkPreferPool for each [pool, holder, dst]. Many at once (a commit of a thousand small blobs)
 * go to the worker pool in a few messages; a few stay on libuv's pool, 64 at a time.
 */
export async function linkAllPreferPool(items: Array<[pool: string, holder: string, dst: string]>): Promise<void> {
  if (items.length >= FS_BATCH_MIN) {
    await runFsBatch({ kind: "link", items }).catch((err: unknown) => {
      throw storeError(err);
    });
    return;
  }
  for (let i = 0; i < items.length; i += 64) {
    await Promise.all(items.slice(i, i + 64).map(([pool, holder, dst]) => linkPreferPool(pool, holder, dst)));
  }
}
