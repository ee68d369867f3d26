import "./builtin-fetch";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, MemoryTagState, parseRegistryConfig, Remote, type RegistryConfigInput, type SyncContext, type TagOutcome } from "../../../lib/sync";
import { MT, pushImage, pushIndex, sha256, type Descriptor } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startCountingProxy, type CountingProxy } from "./proxy";

type Service = ReturnType<typeof createSyncService>;

const REGISTRY_ID = "00000000-0000-0000-0000-0000000000c1";
const fast = { maxRetries: 1, retryDelay: 10, maxRetryDelay: 20 };

function ctx(): SyncContext {
  return { signal: new AbortController().signal };
}

interface OciDoc {
  mediaType: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

/** Every path under `dir` with its size and mtime: equal snapshots mean nothing was written. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await readdir(dir, { recursive: true })) {
    const p = path.join(dir, name);
    const s = await stat(p).catch(() => null);
    if (s) out.set(name, `${s.size}:${s.mtimeMs}:${s.ino}`);
  }
  return out;
}

describe.skipIf(!registryAvailable())("convertToOCI against docker-registry", () => {
  let reg: TestRegistry;
  let proxy: CountingProxy;
  let storeDir: string;
  let store: Store;
  const closers: Array<{ close(): Promise<void> }> = [];

  function config(extra: Partial<RegistryConfigInput> = {}): RegistryConfigInput {
    return { name: "convert", urls: [proxy.url], ...fast, convertToOCI: true, content: [{ prefix: "docker/**" }], ...extra };
  }
  function service(tagState?: MemoryTagState, extra: Partial<RegistryConfigInput> = {}): Service {
    const s = createSyncService(config(extra), { store, registryId: REGISTRY_ID, ...(tagState ? { tagState } : {}) });
    closers.push(s);
    return s;
  }
  function remote(): Remote {
    const r = new Remote(parseRegistryConfig(config()));
    closers.push(r);
    return r;
  }
  async function tagOutcome(s: Service, repo: string, tag: string): Promise<TagOutcome> {
    const r = await s.syncRepo(ctx(), repo);
    const o = r.outcomes.find((x) => x.tag === tag);
    if (!o) throw new Error(`no outcome for ${tag}`);
    return o;
  }
  async function blobHash(repo: string, digest: string): Promise<string> {
    const h = createHash("sha256");
    for await (const chunk of await store.openBlob(repo, digest)) h.update(chunk as Buffer);
    return `sha256:${h.digest("hex")}`;
  }

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startCountingProxy(reg.url);
    storeDir = await mkdtemp(path.join(os.tmpdir(), "ferry-convert-store-"));
    store = await openStore(storeDir, { fsync: false });
  });
  afterAll(async () => {
    for (const c of closers) await c.close();
    await proxy?.close();
    await reg?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it("parses convertToOCI: true", () => {
    expect(parseRegistryConfig({ name: "x", urls: ["https://r.example"], convertToOCI: true }).convertToOCI).toBe(true);
    expect(parseRegistryConfig({ name: "x", urls: ["https://r.example"] }).convertToOCI).toBe(false);
  });

  it("converts a Docker image to an OCI manifest at the predicted digest; the next sync makes no blob GET and no write", async () => {
    const img = await pushImage(reg, "docker/app", "v1", { docker: true, layers: [4096, 1500] });
    const predicted = await remote().getOCIDigest("docker/app", "v1", { convertToOCI: true });
    expect(predicted).toMatchObject({ upstreamDigest: img.digest, converted: true, mediaType: MT.ociManifest });
    expect(predicted.ociDigest).not.toBe(img.digest);

    const tagState = new MemoryTagState();
    const s = service(tagState);
    proxy.reset();
    expect(await tagOutcome(s, "docker/app", "v1")).toMatchObject({ status: "synced", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(3);

    const stored = await store.getManifest("docker/app", "v1");
    expect(stored).toMatchObject({ digest: predicted.ociDigest, mediaType: MT.ociManifest, size: predicted.size });
    expect(sha256(stored.bytes)).toBe(predicted.ociDigest);
    const doc = JSON.parse(stored.bytes.toString()) as OciDoc;
    expect(doc.mediaType).toBe(MT.ociManifest);
    expect(doc.config).toEqual({ mediaType: MT.ociConfig, digest: img.blobs[0]!.digest, size: img.blobs[0]!.size });
    expect(doc.layers).toEqual(img.blobs.slice(1).map((b) => ({ mediaType: MT.ociLayer, digest: b.digest, size: b.size })));
    // Blob bytes are unchanged: the stored content hashes to the upstream digests.
    for (const b of img.blobs) expect(await blobHash("docker/app", b.digest)).toBe(b.digest);
    expect(await tagState.get(REGISTRY_ID, "docker/app", "v1")).toMatchObject({ upstreamDigest: img.digest, localDigest: predicted.ociDigest, status: "synced" });

    // Second sync with tag state: one HEAD, no blob GET, no write to the store.
    const before = await snapshot(storeDir);
    proxy.reset();
    expect(await tagOutcome(s, "docker/app", "v1")).toMatchObject({ status: "unchanged", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(0);
    expect(proxy.counts.manifestHeads).toBeGreaterThanOrEqual(1);
    const referrerGets = proxy.counts.manifestGets; // referrer fallback lookups, not the image
    expect(await snapshot(storeDir)).toEqual(before);

    // Without tag state the digest is predicted from the manifest: one more manifest GET, no blobs.
    proxy.reset();
    expect(await tagOutcome(service(new MemoryTagState()), "docker/app", "v1")).toMatchObject({ status: "unchanged", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(0);
    expect(proxy.counts.manifestGets).toBe(referrerGets + 1);
    expect(await snapshot(storeDir)).toEqual(before);
  });

  it("converts a Docker manifest list to an OCI index of OCI manifests; unchanged on the next sync", async () => {
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ];
    const list = await pushIndex(reg, "docker/multi", "v1", platforms, { docker: true, layers: [2048] });
    const predicted = await remote().getOCIDigest("docker/multi", "v1", { convertToOCI: true });
    expect(predicted).toMatchObject({ upstreamDigest: list.digest, converted: true, mediaType: MT.ociIndex });

    const tagState = new MemoryTagState();
    const s = service(tagState);
    expect(await tagOutcome(s, "docker/multi", "v1")).toMatchObject({ status: "synced", digest: predicted.ociDigest });
    const stored = await store.getManifest("docker/multi", "v1");
    expect(stored).toMatchObject({ digest: predicted.ociDigest, mediaType: MT.ociIndex });
    const index = JSON.parse(stored.bytes.toString()) as OciDoc;
    expect(index.mediaType).toBe(MT.ociIndex);
    expect(index.manifests!.map((m) => m.platform)).toEqual(platforms);
    for (const [i, d] of index.manifests!.entries()) {
      const upstreamChild = list.children[i]!;
      expect(d.mediaType).toBe(MT.ociManifest);
      expect(d.digest).not.toBe(upstreamChild.digest);
      const child = await store.getManifest("docker/multi", d.digest);
      expect(child).toMatchObject({ mediaType: MT.ociManifest, size: d.size });
      const doc = JSON.parse(child.bytes.toString()) as OciDoc;
      expect(doc.config!.mediaType).toBe(MT.ociConfig);
      expect(doc.layers!.map((l) => l.mediaType)).toEqual([MT.ociLayer]);
      for (const b of upstreamChild.blobs) expect(await blobHash("docker/multi", b.digest)).toBe(b.digest);
      // The upstream Docker child is not in the store: the index is consistent with what is held.
      await expect(store.getManifest("docker/multi", upstreamChild.digest)).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
    expect(await tagState.get(REGISTRY_ID, "docker/multi", "v1")).toMatchObject({
      upstreamDigest: list.digest,
      localDigest: predicted.ociDigest,
      platforms: ["linux/amd64", "linux/arm64/v8"],
    });

    const before = await snapshot(storeDir);
    proxy.reset();
    expect(await tagOutcome(s, "docker/multi", "v1")).toMatchObject({ status: "unchanged", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(0);
    const referrerGets = proxy.counts.manifestGets;
    expect(await snapshot(storeDir)).toEqual(before);

    // Without tag state: the list and its two children are read (manifests only), nothing else.
    proxy.reset();
    expect(await tagOutcome(service(new MemoryTagState()), "docker/multi", "v1")).toMatchObject({ status: "unchanged", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(0);
    expect(proxy.counts.manifestGets).toBe(referrerGets + 3);
    expect(await snapshot(storeDir)).toEqual(before);
  });

  it("re-syncs as OCI an image first mirrored with digests preserved; digest references stay unconverted", async () => {
    const img = await pushImage(reg, "docker/flip", "v1", { docker: true });
    const tagState = new MemoryTagState();
    const plain = service(tagState, { convertToOCI: false });
    expect(await tagOutcome(plain, "docker/flip", "v1")).toMatchObject({ status: "synced", digest: img.digest });
    expect((await store.getManifest("docker/flip", "v1")).mediaType).toBe(MT.dockerManifest);

    const converting = service(tagState);
    const predicted = await remote().getOCIDigest("docker/flip", "v1", { convertToOCI: true });
    proxy.reset();
    expect(await tagOutcome(converting, "docker/flip", "v1")).toMatchObject({ status: "synced", digest: predicted.ociDigest });
    expect(proxy.counts.blobGets).toBe(0); // the blobs are in the store already
    expect((await store.getManifest("docker/flip", "v1")).mediaType).toBe(MT.ociManifest);

    // A client asking for an upstream digest gets exactly those bytes.
    const other = await pushImage(reg, "docker/flip", "", { docker: true });
    const r = await converting.syncImage(ctx(), "docker/flip", other.digest);
    expect(r).toMatchObject({ digest: other.digest, copied: true });
    expect((await store.getManifest("docker/flip", other.digest)).mediaType).toBe(MT.dockerManifest);
  });

  it("leaves OCI images alone: digests preserved, unchanged with one HEAD", async () => {
    const img = await pushImage(reg, "docker/oci", "v1");
    expect(await remote().getOCIDigest("docker/oci", "v1", { convertToOCI: true })).toMatchObject({ ociDigest: img.digest, converted: false });
    const s = service(new MemoryTagState());
    expect(await tagOutcome(s, "docker/oci", "v1")).toMatchObject({ status: "synced", digest: img.digest });
    proxy.reset();
    expect(await tagOutcome(service(), "docker/oci", "v1")).toMatchObject({ status: "unchanged", digest: img.digest });
    expect(proxy.counts.blobGets).toBe(0);
  });
});
