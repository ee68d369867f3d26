import { randomBytes } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openStore, type FsStore } from "../../../lib/store";
import { blob, pushImage, tempDir } from "./fixtures";

let store: FsStore;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  store = await openStore(join(t.dir, "store"), { fsync: false });
});
afterEach(() => cleanup());

/** Like `du`: allocated blocks, each inode counted once however many names it has. */
async function diskUsage(dir: string, seen = new Set<string>()): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    const st = await lstat(path);
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    total += st.blocks * 512;
    if (e.isDirectory()) total += await diskUsage(path, seen);
  }
  return total;
}

it("two repositories sharing a 64 MiB layer use about 64 MiB on disk, not 128", async () => {
  const MiB = 1024 * 1024;
  // Random bytes: a filesystem that compresses or dedupes on its own cannot make this pass.
  const layer = blob(randomBytes(64 * MiB));
  await pushImage(store, "team-a/app", "v1", [layer]);
  await pushImage(store, "team-b/app", "v1", [layer]);
  const used = await diskUsage(store.root);
  expect(used).toBeGreaterThan(64 * MiB);
  expect(used).toBeLessThan(66 * MiB);
  expect(await store.repositorySize("team-a/app")).toBeGreaterThan(64 * MiB);
  expect(await store.storeSize()).toBeLessThan(65 * MiB);
});
