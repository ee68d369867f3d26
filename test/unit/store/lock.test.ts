import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ownedName } from "../../../lib/store/layout";
import { cleanupBrokenLocks, withLock } from "../../../lib/store/lock";
import { tempDir } from "./fixtures";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

it("serialises holders and releases on error", async () => {
  const lock = join(dir, "x.lock");
  let inside = 0;
  let maxInside = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      withLock(lock, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 1));
        order.push(i);
        inside--;
      }),
    ),
  );
  expect(maxInside).toBe(1);
  expect(order).toHaveLength(20);
  await expect(withLock(lock, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  expect(await withLock(lock, async () => 42)).toBe(42);
  // Released, the lock is parked as this process's ready draft (see lock.ts PARK_MS).
  expect(await readdir(dir)).toEqual([expect.stringMatching(/^x\.lock\.new-[0-9a-f]{16}$/)]);
});

it("reuses its parked draft for the next acquisition, and rebuilds one swept meanwhile", async () => {
  const lock = join(dir, "p.lock");
  const ownerInside = () => withLock(lock, async () => readdir(lock));
  const first = await ownerInside();
  const [draft] = await readdir(dir);
  expect(draft).toMatch(/^p\.lock\.new-/);
  expect(await readdir(join(dir, draft as string))).toEqual(first);
  // Same owner folder again: the draft was renamed into place, not rebuilt.
  expect(await ownerInside()).toEqual(first);
  // Recovery in another process may sweep a draft (cleanupBrokenLocks removes `.new-` folders;
  // the pause keeps the ctime, which has sub-millisecond digits, behind Date.now()).
  await new Promise((r) => setTimeout(r, 10));
  expect(await cleanupBrokenLocks(dir, 0)).toBe(1);
  // The rename into place fails (ENOENT) and the draft is rebuilt, under the same owner name.
  expect(await ownerInside()).toEqual(first);
  expect((await readdir(dir)).filter((n) => !n.startsWith("p.lock.new-"))).toEqual([]);
});

it("breaks a lock whose holder died at once, and one with an old heartbeat after staleMs", async () => {
  const lock = join(dir, "dead.lock");
  const [host, boot] = ownedName().split("~");
  await mkdir(lock);
  await writeFile(join(lock, "owner.json"), JSON.stringify({ host, boot, pid: 999_999, token: "t1" }));
  const t0 = Date.now();
  expect(await withLock(lock, async () => "got it", { timeoutMs: 2_000 })).toBe("got it");
  expect(Date.now() - t0).toBeLessThan(1_000);
  // The same with the owner recorded as a folder name (the current format; the above is the
  // owner.json of older versions).
  const deadNow = join(dir, "dead-now.lock");
  await mkdir(join(deadNow, `${host}~${boot}~999999~t3`), { recursive: true });
  const t1 = Date.now();
  expect(await withLock(deadNow, async () => "got it too", { timeoutMs: 2_000 })).toBe("got it too");
  expect(Date.now() - t1).toBeLessThan(1_000);

  // A holder on another host (unprobeable) without heartbeat: broken only once stale.
  const foreign = join(dir, "foreign.lock");
  await mkdir(foreign);
  await writeFile(join(foreign, "owner.json"), JSON.stringify({ host: "elsewhere", boot: "b", pid: 1, token: "t2" }));
  await expect(withLock(foreign, async () => 1, { staleMs: 60_000, timeoutMs: 200 })).rejects.toMatchObject({ code: "LOCK_TIMEOUT" });
  await new Promise((r) => setTimeout(r, 150));
  expect(await withLock(foreign, async () => 2, { staleMs: 100, timeoutMs: 2_000 })).toBe(2);

  // Broken locks linger (see lock.ts) and are cleaned up later, with the three parked drafts.
  expect((await readdir(dir)).filter((n) => n.includes(".stale-"))).toHaveLength(3);
  expect((await readdir(dir)).filter((n) => n.includes(".new-"))).toHaveLength(3);
  expect(await cleanupBrokenLocks(dir, 0)).toBe(6);
  expect(await readdir(dir)).toEqual([]);
});
