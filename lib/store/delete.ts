/**
 * Deleting tags and manifests: index.json read-modify-write under the repository lock, like a
 * commit. Blobs are left for gc, which decides what nothing references any more.
 */
import { lstat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "../errors";
import { replaceFileAtomic } from "./atomic-write";
import type { StoreContext } from "./context";
import { isCode } from "./layout";
import { withLock } from "./lock";
import { assertTag, parseDigest } from "./names";
import { readIndexFile, serializeIndex, tagOf } from "./oci-index";

export async function deleteTag(ctx: StoreContext, repo: string, tag: string): Promise<void> {
  assertTag(tag);
  await withLock(
    ctx.layout.repoLockPath(repo),
    async () => {
      const oci = await ctx.layout.resolveRepo(repo);
      const index = oci === null ? null : await readIndexFile(join(oci, "index.json"));
      if (oci === null || index === null) throw new AppError("NOT_FOUND", "repository not found", { details: { repository: repo } });
      const kept = index.manifests.filter((d) => tagOf(d) !== tag);
      if (kept.length === index.manifests.length) {
        throw new AppError("NOT_FOUND", "tag not found", { details: { repository: repo, tag } });
      }
      await replaceFileAtomic(ctx.layout.tmpDir, join(oci, "index.json"), serializeIndex({ ...index, manifests: kept }), ctx.durability);
    },
    ctx.lock,
  );
}

export async function deleteManifest(ctx: StoreContext, repo: string, digest: string): Promise<void> {
  const { algorithm, hex } = parseDigest(digest);
  await withLock(
    ctx.layout.repoLockPath(repo),
    async () => {
      const oci = await ctx.layout.resolveRepo(repo);
      const index = oci === null ? null : await readIndexFile(join(oci, "index.json"));
      if (oci === null || index === null) throw new AppError("NOT_FOUND", "repository not found", { details: { repository: repo } });
      const kept = index.manifests.filter((d) => d.digest !== digest);
      const path = join(oci, "blobs", algorithm, hex);
      const held = await lstat(path).then(
        () => true,
        () => false,
      );
      if (kept.length === index.manifests.length && !held) {
        throw new AppError("NOT_FOUND", "manifest not found", { details: { repository: repo, digest } });
      }
      // Index first, then the file: a reader never finds a tag whose manifest is gone.
      if (kept.length !== index.manifests.length) {
        await replaceFileAtomic(ctx.layout.tmpDir, join(oci, "index.json"), serializeIndex({ ...index, manifests: kept }), ctx.durability);
      }
      await unlink(path).catch((err: unknown) => {
        if (!isCode(err, "ENOENT")) throw err;
      });
    },
    ctx.lock,
  );
}
