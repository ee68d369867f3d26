/**
 * Commits and discards of many blobs (FS_BATCH_MIN or more): the links into the repository and the
 * unlinks of the staging names run in the import workers, in batches (import-pool.ts). Same
 * results as the one-call-per-name path: every blob shares the pool's inode, gc's removal of a pool
 * entry mid-flight is repaired from the staging holder, and nothing is left in staging.
 */
import { randomBytes } from "node:crypto";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { MEDIA_TYPES, openStore, type FsStore } from "../../../lib/store";
import { closeImportPool, FS_BATCH_MIN } from "../../../lib/store/import-pool";
import { blob, body, imageManifest, readAll, tempDir, type Blob } from "./fixtures";

let store: FsStore;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  store = await openStore(join(t.dir, "store"));
});
afterEach(() => cleanup());
afterAll(() => closeImportPool());

const COUNT = FS_BATCH_MIN + 72;
const hexOf = (b: Blob) => b.digest.slice("sha256:".length);

async function stageMany(layers: Blob[]) {
  const staging = await store.stage("many/app");
  const config = blob("{}");
  await staging.writeBlob(config.digest, config.size, body(config));
  for (const l of layers) await staging.writeBlob(l.digest, l.size, body(l));
  const manifest = imageManifest(config, layers);
  await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest });
  staging.tag("v1", manifest.digest);
  return staging;
}

describe("batched links and unlinks", () => {
  it("commits many blobs as links to the pool's inodes and leaves staging empty", async () => {
    const layers = Array.from({ length: COUNT }, () => blob(randomBytes(64)));
    const staging = await stageMany(layers);
    // gc removed two pool entries meanwhile: commit puts the staging holder's inode back.
    const lost = [layers[3] as Blob, layers[COUNT - 1] as Blob];
    for (const l of lost) await unlink(join(store.root, "blobs", "sha256", hexOf(l)));
    await store.commitAll("many/app", staging);

    for (const l of layers) {
      expect((await readAll(await store.openBlob("many/app", l.digest))).equals(l.bytes)).toBe(true);
      // Pool + repository, one inode: the staging name is gone, the repo holds no copy of its own.
      expect((await stat(join(store.root, "blobs", "sha256", hexOf(l)))).nlink).toBe(2);
    }
    expect(await readdir(join(store.root, "staging"))).toEqual([]);
    expect((await store.verify()).ok).toBe(true);
  });

  it("discards many staged names at once", async () => {
    const layers = Array.from({ length: COUNT }, () => blob(randomBytes(64)));
    const staging = await stageMany(layers);
    expect((await readdir(join(store.root, "staging"))).length).toBe(COUNT + 2);
    await store.cleanupImage(staging);
    expect(await readdir(join(store.root, "staging"))).toEqual([]);
    expect(await readdir(join(store.root, "tmp"))).toEqual([]);
    // The pool keeps the verified content (gc's job), held by nobody else.
    expect((await stat(join(store.root, "blobs", "sha256", hexOf(layers[0] as Blob)))).nlink).toBe(1);
  });
});
