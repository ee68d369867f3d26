import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../lib/db/embedded";
import { cosignTag, referrersTag } from "../../../lib/oci";
import { openStore, type Store } from "../../../lib/store";
import {
  createSyncService,
  MemoryTagState,
  TaskGenerator,
  type RegistryConfigInput,
  type SyncContext,
  type SyncRepoResult,
  type TagOutcome,
} from "../../../lib/sync";
import { MT, pushImage, pushIndex, pushManifest, type Descriptor } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startCountingProxy, type CountingProxy } from "./proxy";

type Service = ReturnType<typeof createSyncService>;

function ctx(events: string[] = []): SyncContext {
  return { signal: new AbortController().signal, event: (_l, m) => events.push(m) };
}

function byTag(r: SyncRepoResult): Record<string, TagOutcome> {
  return Object.fromEntries(r.outcomes.map((o) => [o.tag, o]));
}

const fast = { maxRetries: 1, retryDelay: 10, maxRetryDelay: 20 };

describe.skipIf(!registryAvailable())("SyncService against docker-registry", () => {
  let reg: TestRegistry;
  let proxy: CountingProxy;
  let storeDir: string;
  let store: Store;
  const services: Service[] = [];

  function service(config: Partial<RegistryConfigInput> & { content?: RegistryConfigInput["content"] }, extra: { tagState?: MemoryTagState; url?: string[] } = {}): Service {
    const s = createSyncService(
      { name: "test", urls: extra.url ?? [proxy.url], pollInterval: "1h", ...fast, ...config },
      { store, tagState: extra.tagState ?? new MemoryTagState(), registryId: "00000000-0000-0000-0000-000000000001" },
    );
    services.push(s);
    return s;
  }

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startCountingProxy(reg.url);
    storeDir = await mkdtemp(path.join(os.tmpdir(), "ferry-sync-store-"));
    store = await openStore(storeDir, { fsync: false });
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await proxy?.close();
    await reg?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  describe("periodic rounds", () => {
    const tagState = new MemoryTagState();
    let svc: Service;
    const base = randomBytes(4096); // a layer shared by every image

    async function round(): Promise<Map<string, SyncRepoResult>> {
      const gen = new TaskGenerator({ service: svc, maxWaitTimeMs: 60_000 });
      const results = new Map<string, SyncRepoResult>();
      for (let t = await gen.next(); t !== null; t = await gen.next()) results.set(t.repo, await t.run(ctx()));
      expect(gen.isDone()).toBe(true);
      await gen.reset();
      return results;
    }

    beforeAll(async () => {
      for (const tag of ["1.0.0", "1.1.0", "latest", "2.0.0-debug"]) await pushImage(reg, "library/alpine", tag, { layerData: [base, randomBytes(512)] });
      await pushImage(reg, "library/nested/deep", "v1");
      await pushImage(reg, "team/app/web", "v1", { layerData: [base, randomBytes(700)] });
      await pushImage(reg, "team/app/web", "v2", { layerData: [base, randomBytes(800)] });
      await pushImage(reg, "other/skip", "x");
      svc = service(
        {
          content: [
            { prefix: "library/*", destination: "hub", stripPrefix: true, tags: { semver: true, excludeRegex: "-debug$" } },
            { prefix: "team/**", destination: "mirror" },
          ],
        },
        { tagState },
      );
    });

    it("syncs matching repositories with filters and destination mapping", async () => {
      proxy.reset();
      const results = await round();
      expect([...results.keys()]).toEqual(["library/alpine", "team/app/web"]);
      const alpine = results.get("library/alpine")!;
      expect(alpine.localRepo).toBe("hub/alpine");
      const o = byTag(alpine);
      expect(o["1.0.0"]!.status).toBe("synced");
      expect(o["1.1.0"]!.status).toBe("synced");
      expect(o.latest).toMatchObject({ status: "filtered" });
      expect(o["2.0.0-debug"]).toMatchObject({ status: "filtered", reason: expect.stringMatching(/excludeRegex/) });
      expect((await store.listTags("hub/alpine")).sort()).toEqual(["1.0.0", "1.1.0"]);
      expect((await store.listTags("mirror/team/app/web")).sort()).toEqual(["v1", "v2"]);
      // The shared base layer was downloaded once for four images.
      const baseGets = proxy.counts.blobGets;
      expect(baseGets).toBe(1 + 2 * 4); // base + (config + own layer) per image
      const state = await tagState.get("00000000-0000-0000-0000-000000000001", "hub/alpine", "1.0.0");
      expect(state).toMatchObject({ status: "synced", upstreamRepo: "library/alpine", size: expect.any(Number) });
      expect(state!.localDigest).toBe(state!.upstreamDigest);
      expect(svc.upstreamRepoFor("hub/alpine")).toBe("library/alpine");
    });

    it("does not re-copy unchanged images: no blob or manifest GETs, one HEAD per tag", async () => {
      proxy.reset();
      const results = await round();
      const all = [...results.values()].flatMap((r) => r.outcomes).filter((o) => o.status !== "filtered");
      expect(all.map((o) => o.status)).toEqual(["unchanged", "unchanged", "unchanged", "unchanged"]);
      expect(proxy.counts.blobGets).toBe(0);
      // Manifest GETs only for referrer fallback tags (sha256-<hex>), which do not exist here.
      expect(proxy.counts.manifestHeads).toBeGreaterThanOrEqual(4);
    });

    it("re-syncs a re-pushed tag with its new digest", async () => {
      const old = await store.resolveTag("mirror/team/app/web", "v2");
      const repushed = await pushImage(reg, "team/app/web", "v2", { layerData: [base, randomBytes(900)] });
      proxy.reset();
      const results = await round();
      const o = byTag(results.get("team/app/web")!);
      expect(o.v2).toMatchObject({ status: "synced", digest: repushed.digest });
      expect(o.v1!.status).toBe("unchanged");
      expect(await store.resolveTag("mirror/team/app/web", "v2")).toBe(repushed.digest);
      expect(repushed.digest).not.toBe(old);
      expect(proxy.counts.blobGets).toBe(2); // new config + new layer; the base is in the store
      const st = await tagState.get("00000000-0000-0000-0000-000000000001", "mirror/team/app/web", "v2");
      expect(st?.upstreamDigest).toBe(repushed.digest);
      expect(st?.lastChangedAt).toEqual(st?.lastCheckedAt);
    });

    it("keeps syncing the other tags when one tag is corrupt upstream", async () => {
      const good = await pushImage(reg, "corrupt/repo", "good");
      const bad = await pushImage(reg, "corrupt/repo", "bad", { layers: [2048] });
      const layer = bad.blobs[1]!;
      const hex = layer.digest.slice("sha256:".length);
      await writeFile(path.join(reg.root, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data"), randomBytes(2048));
      const s = service({ content: [{ prefix: "corrupt/**" }] });
      const r = await s.syncRepo(ctx(), "corrupt/repo");
      const o = byTag(r);
      expect(o.good).toMatchObject({ status: "synced", digest: good.digest });
      expect(o.bad).toMatchObject({ status: "failed", code: "DIGEST_MISMATCH" });
      expect(await store.resolveTag("corrupt/repo", "bad")).toBeNull();
      // Nothing of the failed image is left in staging.
      expect(await readdir(path.join(storeDir, "staging")).catch(() => [])).toEqual([]);
    });
  });

  describe("indexes and platforms", () => {
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ];

    it("copies a multi-arch index whole, and a Docker manifest list", async () => {
      const idx = await pushIndex(reg, "multi/whole", "v1", platforms);
      const list = await pushIndex(reg, "multi/list", "v1", platforms.slice(0, 2), { docker: true });
      const s = service({ content: [{ prefix: "multi/**" }] });
      const r1 = await s.syncImage(ctx(), "multi/whole", "v1");
      expect(r1).toMatchObject({ digest: idx.digest, copied: true });
      for (const c of idx.children) expect((await store.getManifest("multi/whole", c.digest)).digest).toBe(c.digest);
      const r2 = await s.syncImage(ctx(), "multi/list", "v1");
      expect(r2.digest).toBe(list.digest);
      expect((await store.getManifest("multi/list", "v1")).mediaType).toBe(MT.dockerList);
      expect(await s.syncImage(ctx(), "multi/list", "v1")).toMatchObject({ copied: false });
    });

    it("copies an index of indexes", async () => {
      const inner1 = await pushIndex(reg, "multi/nested", "inner1", platforms.slice(0, 1));
      const inner2 = await pushIndex(reg, "multi/nested", "inner2", platforms.slice(1, 2));
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [inner1.descriptor, inner2.descriptor] }));
      const outer = await pushManifest(reg, "multi/nested", "outer", bytes, MT.ociIndex);
      const s = service({ content: [{ prefix: "multi/**" }] });
      const r = await s.syncImage(ctx(), "multi/nested", "outer");
      expect(r.digest).toBe(outer);
      for (const c of [...inner1.children, ...inner2.children]) {
        expect((await store.getManifest("multi/nested", c.digest)).digest).toBe(c.digest);
      }
    });

    it("with platforms, keeps only those children and a consistent index; unchanged on the next run", async () => {
      const idx = await pushIndex(reg, "multi/partial", "v1", platforms);
      const tagState = new MemoryTagState();
      const s = service({ content: [{ prefix: "multi/partial", destination: "part", stripPrefix: true, platforms: ["linux/amd64", "linux/arm64/v8"] }] }, { tagState });
      const r = await s.syncRepo(ctx(), "multi/partial");
      const o = byTag(r).v1!;
      expect(o.status).toBe("synced");
      const stored = await store.getManifest("part", "v1");
      expect(stored.digest).not.toBe(idx.digest);
      const doc = JSON.parse(stored.bytes.toString()) as { manifests: Descriptor[] };
      expect(doc.manifests.map((m) => m.platform?.architecture)).toEqual(["amd64", "arm64"]);
      const arm7 = idx.children[2]!;
      await expect(store.getManifest("part", arm7.digest)).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.statBlob("part", arm7.blobs[1]!.digest)).toBeNull();
      const st = await tagState.get("00000000-0000-0000-0000-000000000001", "part", "v1");
      expect(st).toMatchObject({ upstreamDigest: idx.digest, localDigest: stored.digest, platforms: ["linux/amd64", "linux/arm64/v8"] });
      proxy.reset();
      const again = await s.syncRepo(ctx(), "multi/partial");
      expect(byTag(again).v1).toMatchObject({ status: "unchanged", digest: stored.digest });
      expect(proxy.counts.blobGets).toBe(0);
    });
  });

  describe("upstream failures", () => {
    it("falls over from a dead primary url to the second", async () => {
      const img = await pushImage(reg, "failover/app", "v1");
      const dead = `http://127.0.0.1:${await freePort()}`;
      const s = service({ content: [{ prefix: "failover/**" }] }, { url: [dead, proxy.url] });
      const events: string[] = [];
      const r = await s.syncImage(ctx(events), "failover/app", "v1");
      expect(r).toMatchObject({ digest: img.digest, copied: true });
      expect(events.some((e) => /failed \(NETWORK\); trying/.test(e))).toBe(true);
      expect(await s.getNextRepo("")).not.toBe("");
    });

    it("TaskGenerator backs off 2 s, 4 s, 8 s on real catalog errors", async () => {
      const dead = `http://127.0.0.1:${await freePort()}`;
      const s = service({ maxRetries: 0 }, { url: [dead] });
      let now = 1_000_000;
      const gen = new TaskGenerator({ service: s, maxWaitTimeMs: 60_000, now: () => now });
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        await expect(gen.next()).rejects.toMatchObject({ code: "NETWORK" });
        waits.push(gen.getState().waitTimeMs);
        expect(await gen.next()).toBeNull(); // still waiting: no request
        now += gen.getState().waitTimeMs + 1;
      }
      expect(waits).toEqual([2000, 4000, 8000]);
      expect(s.canRetryOnError()).toBe(false);
    });

    it("gives wrong credentials a distinct outcome", async () => {
      const authReg = await startRegistry({ auth: { username: "ferry", password: "right" } });
      try {
        await pushImage(authReg, "private/app", "v1");
        const wrong = createSyncService(
          { name: "auth", urls: [authReg.url], ...fast, credentials: { username: "ferry", password: "wrong" } },
          { store },
        );
        const right = createSyncService({ name: "auth", urls: [authReg.url], ...fast, credentials: { username: "ferry", password: "right" } }, { store });
        try {
          await expect(wrong.syncRepo(ctx(), "private/app")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
          await expect(wrong.syncImage(ctx(), "private/app", "v1")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
          await expect(wrong.getNextRepo("")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
          const ok = await right.syncRepo(ctx(), "private/app");
          expect(byTag(ok).v1!.status).toBe("synced");
        } finally {
          await wrong.close();
          await right.close();
        }
      } finally {
        await authReg.stop();
      }
    });
  });

  describe("signatures and referrers", () => {
    function subjectOf(d: Descriptor): Descriptor {
      return { mediaType: d.mediaType, digest: d.digest, size: d.size };
    }
    async function pushFallbackIndex(repo: string, subject: string, referrers: Descriptor[]): Promise<void> {
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: referrers }));
      await pushManifest(reg, repo, referrersTag(subject), bytes, MT.ociIndex);
    }

    it("copies cosign tags and OCI referrers (tag-schema fallback) with their image", async () => {
      const img = await pushImage(reg, "signed/app", "v1");
      const sig = await pushImage(reg, "signed/app", cosignTag(img.digest, "sig"), { layers: [300] });
      const sbom = await pushImage(reg, "signed/app", "", { subject: subjectOf(img.descriptor), artifactType: "application/spdx+json", layers: [400] });
      await pushFallbackIndex("signed/app", img.digest, [{ ...subjectOf(sbom.descriptor), artifactType: "application/spdx+json" }]);
      const s = service({ content: [{ prefix: "signed/**" }] });
      const r = await s.syncRepo(ctx(), "signed/app");
      expect(r.outcomes.map((o) => o.tag)).toEqual(["v1"]); // attached tags are not tags of their own
      expect(r.outcomes[0]).toMatchObject({ status: "synced", referrers: 2 });
      expect(await store.resolveTag("signed/app", cosignTag(img.digest, "sig"))).toBe(sig.digest);
      const refs = await store.referrers("signed/app", img.digest);
      expect(refs.map((d) => d.digest)).toContain(sbom.digest);
      // Next round: nothing new.
      const again = await s.syncRepo(ctx(), "signed/app");
      expect(again.outcomes[0]).toMatchObject({ status: "unchanged" });
      expect(again.outcomes[0]).not.toHaveProperty("referrers");
      // A signature added to an unchanged image is picked up.
      const att = await pushImage(reg, "signed/app", cosignTag(img.digest, "att"), { layers: [100] });
      const third = await s.syncRepo(ctx(), "signed/app");
      expect(third.outcomes[0]).toMatchObject({ status: "unchanged", referrers: 1 });
      expect(await store.resolveTag("signed/app", cosignTag(img.digest, "att"))).toBe(att.digest);
    });

    it("terminates on a referrer cycle", async () => {
      const img = await pushImage(reg, "cycle/app", "v1");
      const a = await pushImage(reg, "cycle/app", "", { subject: subjectOf(img.descriptor), artifactType: "application/x-a", layers: [10] });
      const b = await pushImage(reg, "cycle/app", "", { subject: subjectOf(a.descriptor), artifactType: "application/x-b", layers: [10] });
      const aRef = { ...subjectOf(a.descriptor), artifactType: "application/x-a" };
      const bRef = { ...subjectOf(b.descriptor), artifactType: "application/x-b" };
      await pushFallbackIndex("cycle/app", img.digest, [aRef]);
      await pushFallbackIndex("cycle/app", a.digest, [bRef]);
      await pushFallbackIndex("cycle/app", b.digest, [aRef, { ...subjectOf(img.descriptor), artifactType: "application/x-img" }]);
      const s = service({ content: [{ prefix: "cycle/**" }], syncLegacyCosignTags: false });
      const r = await s.syncRepo(ctx(), "cycle/app");
      expect(r.outcomes[0]).toMatchObject({ status: "synced", referrers: 2 });
      expect((await store.referrers("cycle/app", a.digest)).map((d) => d.digest)).toEqual([b.digest]);
    });

    it("onlySigned refuses an unsigned image with a distinct outcome and copies signed ones", async () => {
      const unsigned = await pushImage(reg, "only/app", "unsigned");
      const signed = await pushImage(reg, "only/app", "signed");
      await pushImage(reg, "only/app", cosignTag(signed.digest, "sig"), { layers: [50] });
      const notation = await pushImage(reg, "only/app", "notation");
      const nsig = await pushImage(reg, "only/app", "", { subject: subjectOf(notation.descriptor), artifactType: "application/vnd.cncf.notary.signature", layers: [50] });
      await pushFallbackIndex("only/app", notation.digest, [{ ...subjectOf(nsig.descriptor), artifactType: "application/vnd.cncf.notary.signature" }]);
      const s = service({ content: [{ prefix: "only/**", destination: "signedonly" }], onlySigned: true });
      const o = byTag(await s.syncRepo(ctx(), "only/app"));
      expect(o.unsigned).toEqual({ tag: "unsigned", status: "unsigned", digest: unsigned.digest });
      expect(o.signed!.status).toBe("synced");
      expect(o.notation!.status).toBe("synced");
      expect(await store.resolveTag("signedonly/only/app", "signed")).toBe(signed.digest);
      expect(await store.resolveTag("signedonly/only/app", "unsigned")).toBeNull();
      await expect(s.syncImage(ctx(), "signedonly/only/app", "unsigned")).rejects.toMatchObject({ code: "FORBIDDEN", details: { reason: "UNSIGNED" } });
    });
  });

  describe("on demand", () => {
    it("maps the local name back, syncs by digest, refuses unmapped names and filtered tags", async () => {
      const img = await pushImage(reg, "ondemand/lib/tool", "1.0.0");
      await pushImage(reg, "ondemand/lib/tool", "nightly");
      const s = service({ content: [{ prefix: "ondemand/**", destination: "od", stripPrefix: true, tags: { semver: true } }] });
      expect(s.upstreamRepoFor("od/lib/tool")).toBe("ondemand/lib/tool");
      const byDigest = await s.syncImage(ctx(), "od/lib/tool", img.digest);
      expect(byDigest).toMatchObject({ digest: img.digest, copied: true });
      expect(await s.syncImage(ctx(), "od/lib/tool", img.digest)).toMatchObject({ copied: false });
      await expect(s.syncImage(ctx(), "od/lib/tool", "nightly")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(s.syncImage(ctx(), "elsewhere/tool", "1.0.0")).rejects.toMatchObject({ code: "NOT_FOUND" });
      // Background sync: concurrent requests share one run, bounded by syncTimeout, not by the caller.
      const [a, b] = await Promise.all([s.syncImageInBackground("od/lib/tool", "1.0.0"), s.syncImageInBackground("od/lib/tool", "1.0.0")]);
      expect(a).toBe(b);
      expect(a.digest).toBe(img.digest);
    });

    it("stops at the caller's abort", async () => {
      await pushImage(reg, "abort/app", "v1");
      const s = service({ content: [{ prefix: "abort/**" }] });
      const ac = new AbortController();
      ac.abort();
      await expect(s.syncRepo({ signal: ac.signal }, "abort/app")).rejects.toThrow();
      expect(await store.resolveTag("abort/app", "v1")).toBeNull();
    });
  });
});
