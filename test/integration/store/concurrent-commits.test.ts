/**
 * Two processes (and this one) commit different tags into one repository at the same time; the
 * cross-process lock and the read-modify-write of index.json must keep every tag.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openStore } from "../../../lib/store";
import { blob, pushImage, tempDir } from "../../unit/store/fixtures";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("ferry-concurrent-"));
});
afterAll(() => cleanup());

function runWriter(root: string, prefix: string, count: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "writer.ts"), "commits", root, "shared/app", prefix, String(count)],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

it("keeps every tag when two processes commit into one repository concurrently", async () => {
  const root = join(dir, "store");
  const store = await openStore(root);
  const COUNT = 60;
  const [a, b] = await Promise.all([
    runWriter(root, "p1", COUNT),
    runWriter(root, "p2", COUNT),
    (async () => {
      for (let i = 0; i < 20; i++) await pushImage(store, "shared/app", `p0-${i}`, [blob(`p0 ${i}`)]);
    })(),
  ]);
  expect(a).toEqual({ code: 0, stderr: "" });
  expect(b).toEqual({ code: 0, stderr: "" });
  const tags = await store.listTags("shared/app");
  expect(tags).toHaveLength(2 * COUNT + 20);
  for (let i = 0; i < COUNT; i++) {
    expect(tags).toContain(`p1-${i}`);
    expect(tags).toContain(`p2-${i}`);
  }
  expect((await store.verify()).ok).toBe(true);
}, 120_000);

it("loses nothing when gc with no grace period runs while another process commits", async () => {
  const root = join(dir, "store-gc");
  const store = await openStore(root);
  const writer = runWriter(root, "g", 60);
  let done = false;
  let sweeps = 0;
  void writer.then(() => (done = true));
  while (!done) {
    await store.gc({ gracePeriodMs: 0 });
    sweeps++;
  }
  expect(await writer).toEqual({ code: 0, stderr: "" });
  expect(sweeps).toBeGreaterThan(1);
  const tags = await store.listTags("shared/app");
  expect(tags).toHaveLength(60);
  for (const tag of tags) {
    const m = JSON.parse((await store.getManifest("shared/app", tag)).bytes.toString()) as { layers: Array<{ digest: string }> };
    for (const l of m.layers) expect(await store.statBlob("shared/app", l.digest)).not.toBeNull();
  }
  const report = await store.verify();
  expect(report.ok).toBe(true);
  expect(report.unreferenced).toEqual([]);
}, 120_000);
