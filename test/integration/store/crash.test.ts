/**
 * SIGKILL a writer at random moments, again and again, on one store. After each kill, opening the
 * store must clean up what the writer left, verify must find every named blob and manifest intact
 * and every tag complete, and the store must stay usable (the dead writer's lock is broken).
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openStore } from "../../../lib/store";
import { blob, pushImage, tempDir } from "../../unit/store/fixtures";

const RUNS = 24;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("ferry-crash-"));
});
afterAll(() => cleanup());

/** Starts the writer, waits until its store is open, kills it after `delayMs`, waits for exit. */
async function killWriterAfter(root: string, delayMs: number): Promise<string | null> {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "writer.ts"), "crash", root], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<string | null>((resolve) => child.on("close", (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.on("exit", () => reject(new Error(`writer exited early: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill("SIGKILL");
  return closed;
}

it(`survives ${RUNS} SIGKILLs of a writer at random moments`, async () => {
  const root = join(dir, "store");
  let committedTags = 0;
  for (let run = 0; run < RUNS; run++) {
    // Early runs kill soon after start (mid first write); later ones after several commits.
    const delay = Math.floor(Math.random() * (run < RUNS / 2 ? 150 : 600));
    expect(await killWriterAfter(root, delay)).toBe("SIGKILL");
    const t1 = Date.now();

    const store = await openStore(root);
    expect(await readdir(join(root, "tmp")), `run ${run}: tmp cleaned`).toEqual([]);
    expect(await readdir(join(root, "staging")), `run ${run}: staging cleaned`).toEqual([]);
    const report = await store.verify();
    expect(report.corrupt, `run ${run}`).toEqual([]);
    expect(report.missing, `run ${run}`).toEqual([]);
    expect(report.invalid, `run ${run}`).toEqual([]);
    expect(report.ok).toBe(true);
    // Every tag resolves to a complete, readable image.
    for (const repo of await store.listRepositories()) {
      for (const tag of await store.listTags(repo)) {
        const m = await store.getManifest(repo, tag);
        expect(m.size).toBeGreaterThan(0);
        committedTags++;
      }
    }
    // The store is still writable: a lock the writer died holding is broken at once.
    await pushImage(store, "crash/a", "after-crash", [blob(`run ${run}`)]);
    // ...without waiting out a stale timeout, wherever the kill landed (even mid-acquire).
    expect(Date.now() - t1, `run ${run}: recovery time`).toBeLessThan(10_000);
  }
  expect(committedTags).toBeGreaterThan(0);
}, 180_000);
