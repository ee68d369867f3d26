/**
 * What a sync costs upstream, request by request, on a real docker-registry (no referrers API):
 * a new image costs its HEAD and its manifests and blobs, an unchanged one one HEAD, and referrer and
 * cosign lookups are made only for tags the repository listing shows. Signatures and referrers
 * are still copied with their image.
 */
import "./builtin-fetch";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cosignTag, referrersTag } from "../../../lib/oci";
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, MemoryTagState, type SyncContext } from "../../../lib/sync";
import { MT, pushImage, pushIndex, pushManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";

const ctx = (): SyncContext => ({ signal: AbortSignal.timeout(60_000) });

describe.skipIf(!registryAvailable())("sync round trips", () => {
  let reg: TestRegistry;
  let proxy: UpstreamProxy;
  let storeDir: string;
  let store: Store;
  let svc: ReturnType<typeof createSyncService>;

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startUpstreamProxy(reg.url);
    storeDir = await mkdtemp(path.join(os.tmpdir(), "ferry-sync-rt-"));
    store = await openStore(storeDir, { fsync: false });
    svc = createSyncService({ name: "rt", urls: [proxy.url], maxRetries: 0, content: [{ prefix: "rt/**" }] }, { store, tagState: new MemoryTagState() });
  });
  afterAll(async () => {
    await svc?.close();
    await proxy?.close();
    await reg?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  /** Requests since the last reset, as "METHOD kind" → count. */
  function requests(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, n] of proxy.hits) {
      const [method, p = ""] = key.split(" ");
      const ref = /\/manifests\/(.+)$/.exec(p)?.[1];
      const kind = ref === undefined ? (p.split("/").find((x) => ["blobs", "referrers", "tags"].includes(x)) ?? p) : ref.startsWith("sha256:") ? "manifest@digest" : `manifest:${ref}`;
      out[`${method} ${kind}`] = (out[`${method} ${kind}`] ?? 0) + n;
    }
    return out;
  }

  it("copies new images with no referrer lookups for tags that are not listed; unchanged costs one HEAD", async () => {
    const a = await pushImage(reg, "rt/app", "v1", { layers: [1000, 2000] });
    const b = await pushImage(reg, "rt/app", "v2", { layers: [3000] });
    const multi = await pushIndex(reg, "rt/app", "multi", [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    proxy.reset();
    const first = await svc.syncRepo(ctx(), "rt/app");
    expect(first.outcomes.map((o) => o.status)).toEqual(["synced", "synced", "synced"]);
    const blobs = new Set([...a.blobs, ...b.blobs, ...multi.blobs].map((d) => d.digest)).size;
    expect(requests()).toEqual({
      "GET tags": 1,
      "HEAD manifest:v1": 1,
      "HEAD manifest:v2": 1,
      "HEAD manifest:multi": 1,
      "GET manifest@digest": 5, // the three roots by the digest their HEAD named, the index's two children
      "GET blobs": blobs,
      "GET referrers": 1, // once: a plain 404 says the registry has no referrers API
    });
    expect(await store.resolveTag("rt/app", "multi")).toBe(multi.digest);

    proxy.reset();
    const second = await svc.syncRepo(ctx(), "rt/app");
    expect(second.outcomes.map((o) => o.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
    expect(requests()).toEqual({ "GET tags": 1, "HEAD manifest:v1": 1, "HEAD manifest:v2": 1, "HEAD manifest:multi": 1 });
  });

  it("still finds cosign tags and fallback referrers that the listing shows, and only those", async () => {
    const img = await pushImage(reg, "rt/signed", "v1");
    const sig = await pushImage(reg, "rt/signed", cosignTag(img.digest, "sig"), { layers: [300] });
    const sbom = await pushImage(reg, "rt/signed", "", { subject: { mediaType: img.mediaType, digest: img.digest, size: img.descriptor.size }, artifactType: "application/spdx+json", layers: [400] });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...sbom.descriptor, artifactType: "application/spdx+json" }] }));
    await pushManifest(reg, "rt/signed", referrersTag(img.digest), index, MT.ociIndex);

    const first = await svc.syncRepo(ctx(), "rt/signed");
    expect(first.outcomes).toHaveLength(1);
    expect(first.outcomes[0]).toMatchObject({ tag: "v1", status: "synced", referrers: 2 });
    expect(await store.resolveTag("rt/signed", cosignTag(img.digest, "sig"))).toBe(sig.digest);
    expect((await store.referrers("rt/signed", img.digest)).map((d) => d.digest)).toEqual([sbom.digest]);

    proxy.reset();
    const second = await svc.syncRepo(ctx(), "rt/signed");
    expect(second.outcomes[0]).toMatchObject({ status: "unchanged" });
    // The image's HEAD, its listed fallback tag and its listed .sig tag; not .att, .sbom, nor
    // lookups for the referrers' own (unlisted) fallback and cosign tags.
    expect(requests()).toEqual({
      "GET tags": 1,
      "HEAD manifest:v1": 1,
      [`GET manifest:${referrersTag(img.digest)}`]: 1,
      [`HEAD manifest:${cosignTag(img.digest, "sig")}`]: 1,
    });
  });
});
