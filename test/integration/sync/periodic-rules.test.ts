/**
 * `content[].periodic` at the SyncService level, against a real docker-registry: a round (the
 * TaskGenerator walking getNextRepo) visits only repositories whose first matching rule is
 * periodic, while an on-demand syncImage still maps and copies through an on-demand-only rule.
 */
import "./builtin-fetch";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, MemoryTagState, TaskGenerator } from "../../../lib/sync";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";

describe.skipIf(!registryAvailable())("periodic content rules against docker-registry", () => {
  let reg: TestRegistry;
  let storeDir: string;
  let store: Store;

  beforeAll(async () => {
    reg = await startRegistry();
    for (const repo of ["team/a", "team/b", "hub/app", "hub/other", "solo"]) await pushImage(reg, repo, "1", { layers: [512] });
    storeDir = await mkdtemp(path.join(os.tmpdir(), "ferry-periodic-"));
    store = await openStore(storeDir, { fsync: false });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it("walks only periodic matches in a round; on-demand-only rules still serve syncImage", async () => {
    const svc = createSyncService(
      {
        name: "t",
        urls: [reg.url],
        onDemand: true,
        pollInterval: "1h",
        content: [{ prefix: "team/**" }, { prefix: "hub/app", destination: "od/hub/app", stripPrefix: true }, { prefix: "**", destination: "od", periodic: false }, { prefix: "solo" }],
      },
      { store, tagState: new MemoryTagState(), registryId: "00000000-0000-0000-0000-000000000009" },
    );
    try {
      const gen = new TaskGenerator({ service: svc, maxWaitTimeMs: 60_000 });
      const visited: string[] = [];
      for (let t = await gen.next(); t; t = await gen.next()) {
        visited.push(t.repo);
        const r = await t.run({ signal: AbortSignal.timeout(30_000) });
        expect(r.outcomes.map((o) => o.status)).toEqual(["synced"]);
      }
      expect(gen.isDone()).toBe(true);
      // "solo" comes after the on-demand-only "**", which matches it first: not in rounds.
      expect(visited).toEqual(["hub/app", "team/a", "team/b"]);
      expect((await store.listRepositories()).sort()).toEqual(["od/hub/app", "team/a", "team/b"]);

      const onDemand = await svc.syncImage({ signal: AbortSignal.timeout(30_000) }, "od/hub/other", "1");
      expect(onDemand).toMatchObject({ localRepo: "od/hub/other", copied: true });
      expect(svc.upstreamRepoFor("od/solo")).toBe("solo");
    } finally {
      await svc.close();
    }
  });
});
