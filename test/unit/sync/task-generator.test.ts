import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TaskGenerator, type SyncRepoResult, type TaskGeneratorState } from "../../../lib/sync";

/** A fake Service whose catalog can be made to fail. */
function fakeService(repos: string[]) {
  const calls: string[] = [];
  let failures = 0;
  let resets = 0;
  const service = {
    registryName: "r",
    getNextRepo: vi.fn(async (last: string) => {
      calls.push(last);
      if (failures > 0) {
        failures--;
        throw new Error("catalog unavailable");
      }
      return repos.find((r) => r > last) ?? "";
    }),
    resetCatalog: () => {
      resets++;
    },
    syncRepo: vi.fn(async (_ctx: unknown, repo: string): Promise<SyncRepoResult> => ({ localRepo: repo, outcomes: [], bytesCopied: 0, blobsCopied: 0, blobsSkipped: 0 })),
  };
  return {
    service,
    calls,
    fail: (n: number) => {
      failures = n;
    },
    resets: () => resets,
  };
}

describe("TaskGenerator", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands out one task per repository, then is done until reset", async () => {
    const f = fakeService(["a", "b/c", "d"]);
    const gen = new TaskGenerator({ service: f.service, maxWaitTimeMs: 60_000 });
    const repos: string[] = [];
    for (let t = await gen.next(); t !== null; t = await gen.next()) {
      repos.push(t.repo);
      await t.run({ signal: new AbortController().signal });
    }
    expect(repos).toEqual(["a", "b/c", "d"]);
    expect(f.service.syncRepo).toHaveBeenCalledTimes(3);
    expect(gen.isDone()).toBe(true);
    expect(await gen.next()).toBeNull();
    expect(gen.getState()).toMatchObject({ lastRepo: "d", done: true, waitTimeMs: 0, round: 1 });

    vi.advanceTimersByTime(1000);
    await gen.reset();
    expect(f.resets()).toBe(1);
    expect(gen.getState()).toMatchObject({ lastRepo: "", done: false, waitTimeMs: 0, round: 2, roundStartedAt: Date.now() });
    expect((await gen.next())?.repo).toBe("a");
  });

  it("backs off 2 s, 4 s, 8 s… capped at the poll interval, and resets on success", async () => {
    const f = fakeService(["a", "b"]);
    const gen = new TaskGenerator({ service: f.service, maxWaitTimeMs: 10_000 });
    f.fail(5);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      await expect(gen.next()).rejects.toThrow("catalog unavailable");
      const s = gen.getState();
      waits.push(s.waitTimeMs);
      expect(s.lastTaskAt).toBe(Date.now());
      // Within the wait (inclusive, as the seed's `<=`) next() does not call upstream.
      const before = f.calls.length;
      vi.advanceTimersByTime(s.waitTimeMs);
      expect(await gen.next()).toBeNull();
      expect(f.calls.length).toBe(before);
      expect(gen.msUntilReady()).toBe(1);
      vi.advanceTimersByTime(1);
    }
    expect(waits).toEqual([2000, 4000, 8000, 10_000, 10_000]);
    const task = await gen.next();
    expect(task?.repo).toBe("a");
    expect(gen.getState()).toMatchObject({ waitTimeMs: 0, lastTaskAt: Date.now(), lastRepo: "a" });
    // A later failure starts from 2 s again.
    f.fail(1);
    await expect(gen.next()).rejects.toThrow();
    expect(gen.getState().waitTimeMs).toBe(2000);
  });

  it("resumes from injected state and reports every change", async () => {
    const f = fakeService(["a", "b", "c"]);
    const saved: TaskGeneratorState[] = [];
    const restored: TaskGeneratorState = { lastRepo: "b", done: false, waitTimeMs: 4000, lastTaskAt: Date.now() - 1000, round: 7, roundStartedAt: Date.now() - 60_000 };
    const gen = new TaskGenerator({ service: f.service, maxWaitTimeMs: 60_000, state: restored, onStateChange: (s) => saved.push(s) });
    expect(await gen.next()).toBeNull(); // still inside the restored 4 s wait
    vi.advanceTimersByTime(3001);
    expect((await gen.next())?.repo).toBe("c");
    expect(f.calls).toEqual(["b"]);
    expect(saved.at(-1)).toMatchObject({ lastRepo: "c", round: 7, waitTimeMs: 0 });
    expect(JSON.parse(JSON.stringify(gen.getState()))).toEqual(gen.getState());
  });

  it("serialises concurrent next() calls so no repository is handed out twice", async () => {
    const f = fakeService(["a", "b", "c"]);
    const gen = new TaskGenerator({ service: f.service, maxWaitTimeMs: 60_000, now: () => 5 });
    const tasks = await Promise.all([gen.next(), gen.next(), gen.next(), gen.next()]);
    expect(tasks.map((t) => t?.repo ?? null)).toEqual(["a", "b", "c", null]);
  });

  it("refuses a non-positive poll interval", () => {
    expect(() => new TaskGenerator({ service: fakeService([]).service, maxWaitTimeMs: 0 })).toThrow(/maxWaitTimeMs/);
  });
});
