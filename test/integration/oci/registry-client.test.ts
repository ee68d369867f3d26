import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MT, pushBlob, pushImage, pushIndex, pushManifest, sha256 } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { cosignTag, RegistryClient, referrersTag, type OciError } from "../../../lib/oci";

async function drain(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(!registryAvailable())("RegistryClient against docker-registry (anonymous)", () => {
  let reg: TestRegistry;
  let client: RegistryClient;

  beforeAll(async () => {
    reg = await startRegistry({ catalogMaxEntries: 3 });
    client = new RegistryClient({ url: reg.url, retry: { maxRetries: 1, retryDelayMs: 10 } });
  });
  afterAll(async () => {
    await client?.close();
    await reg?.stop();
  });

  it("pings an open registry", async () => {
    expect(await client.ping()).toEqual({ auth: "none", apiVersion: "registry/2.0" });
  });

  it("pages the catalog and tags over more than one page", async () => {
    for (let i = 0; i < 7; i++) await pushImage(reg, `team/app${i}`, "v1");
    for (let i = 0; i < 12; i++) await pushImage(reg, "team/app0", `t${String(i).padStart(2, "0")}`);
    const pages: string[][] = [];
    for await (const page of client.catalog()) pages.push(page);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.flat()).toEqual(Array.from({ length: 7 }, (_, i) => `team/app${i}`));

    // distribution 2.8 ignores `n` for tags (one page); multi-page tag lists are covered by the fake in unit tests.
    const tagPages: string[][] = [];
    for await (const page of client.tagPages("team/app0", { pageSize: 5 })) tagPages.push(page);
    expect(tagPages.flat().sort()).toEqual(["v1", ...Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, "0")}`)].sort());
    expect(await client.listTags("team/app0", { pageSize: 4 })).toHaveLength(13);
  });

  it("fetches and verifies manifests of every media type", async () => {
    const oci = await pushImage(reg, "media/oci", "v1");
    const docker = await pushImage(reg, "media/docker", "v1", { docker: true });
    const index = await pushIndex(reg, "media/index", "v1", [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ]);
    const list = await pushIndex(reg, "media/list", "v1", [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm", variant: "v7" }], { docker: true });
    const emptyCfg = Buffer.from("{}");
    await pushBlob(reg, "media/artifact", emptyCfg);
    const payload = randomBytes(300);
    const payloadDigest = await pushBlob(reg, "media/artifact", payload);
    const artifactBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: "application/vnd.example.sbom",
        config: { mediaType: MT.emptyJson, digest: sha256(emptyCfg), size: 2 },
        layers: [{ mediaType: "application/vnd.example.sbom.layer", digest: payloadDigest, size: payload.length }],
      }),
    );
    const artifactDigest = await pushManifest(reg, "media/artifact", "sbom", artifactBytes, MT.ociManifest);

    for (const [repo, pushed] of [["media/oci", oci], ["media/docker", docker], ["media/index", index], ["media/list", list]] as const) {
      const m = await client.getManifest(repo, "v1");
      expect(m.digest).toBe(pushed.digest);
      expect(m.mediaType).toBe(pushed.mediaType);
      expect(m.bytes.equals(pushed.bytes)).toBe(true);
      const head = await client.headManifest(repo, "v1");
      expect(head).toEqual({ digest: pushed.digest, mediaType: pushed.mediaType, size: pushed.bytes.length });
      const byDigest = await client.getManifest(repo, pushed.digest);
      expect(byDigest.digest).toBe(pushed.digest);
    }
    const idx = await client.getManifest("media/index", "v1");
    expect(idx.parsed.kind).toBe("index");
    if (idx.parsed.kind === "index") {
      expect(idx.parsed.index.manifests.map((d) => d.platform?.architecture)).toEqual(["amd64", "arm64"]);
      // every child is fetchable by digest
      for (const child of idx.parsed.index.manifests) {
        const c = await client.getManifest("media/index", child.digest);
        expect(c.parsed.kind).toBe("image");
      }
    }
    const art = await client.getManifest("media/artifact", "sbom");
    expect(art.digest).toBe(artifactDigest);
    expect(art.parsed.kind === "image" && art.parsed.manifest.artifactType).toBe("application/vnd.example.sbom");
  });

  it("reports unknown manifests and blobs with stable codes", async () => {
    await pushImage(reg, "errs/x", "v1");
    await expect(client.getManifest("errs/x", "nope")).rejects.toMatchObject({ code: "MANIFEST_UNKNOWN", status: 404, registryCode: "MANIFEST_UNKNOWN" });
    await expect(client.headManifest("errs/x", "nope")).rejects.toMatchObject({ code: "MANIFEST_UNKNOWN", status: 404 });
    await expect(client.getBlob("errs/x", sha256("missing"))).rejects.toMatchObject({ code: "BLOB_UNKNOWN", status: 404 });
    await expect(client.listTags("errs/nothing-here")).rejects.toMatchObject({ code: "NAME_UNKNOWN" });
    await expect(client.getManifest("Bad/Name", "v1")).rejects.toMatchObject({ code: "NAME_INVALID" });
    await expect(client.getManifest("errs/x", "-bad")).rejects.toMatchObject({ code: "TAG_INVALID" });
  });

  it("streams multi-MiB blobs and verifies them", async () => {
    const img = await pushImage(reg, "blobs/big", "v1", { layers: [5 * 1024 * 1024 + 17, 3 * 1024 * 1024] });
    for (const layer of img.blobs) {
      const stream = await client.getBlob("blobs/big", layer.digest, { expectedSize: layer.size });
      const bytes = await drain(stream);
      expect(bytes.length).toBe(layer.size);
      expect(sha256(bytes)).toBe(layer.digest);
      expect(stream.resumes).toBe(0);
    }
    const cfg = await client.getBlobBytes("blobs/big", img.blobs[0]!.digest);
    expect(JSON.parse(cfg.toString()).architecture).toBe("amd64");
    // A wrong expected size is caught before any byte flows.
    const layer = img.blobs[1]!;
    await expect(client.getBlob("blobs/big", layer.digest, { expectedSize: layer.size - 1 })).rejects.toMatchObject({ code: "SIZE_MISMATCH" });
  });

  it("finds referrers through the tag schema when the API is missing", async () => {
    const subject = await pushImage(reg, "sig/app", "v1");
    const none = await client.referrers("sig/app", subject.digest);
    expect(none).toEqual({ descriptors: [], source: "tag-schema" });
    const sig = await pushImage(reg, "sig/app", "", { artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", subject: subject.descriptor });
    const sbom = await pushImage(reg, "sig/app", "", { artifactType: "application/vnd.example.sbom", subject: subject.descriptor });
    const referrersIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          { ...sig.descriptor, artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json" },
          { ...sbom.descriptor, artifactType: "application/vnd.example.sbom" },
        ],
      }),
    );
    await pushManifest(reg, "sig/app", referrersTag(subject.digest), referrersIndex, MT.ociIndex);
    const all = await client.referrers("sig/app", subject.digest);
    expect(all.source).toBe("tag-schema");
    expect(all.descriptors.map((d) => d.digest)).toEqual([sig.digest, sbom.digest]);
    const sboms = await client.referrers("sig/app", subject.digest, { artifactType: "application/vnd.example.sbom" });
    expect(sboms.descriptors.map((d) => d.digest)).toEqual([sbom.digest]);
    // cosign-style tag
    await pushImage(reg, "sig/app", cosignTag(subject.digest, "sig"));
    expect(await client.listTags("sig/app")).toContain(cosignTag(subject.digest, "sig"));
  });
});

describe.skipIf(!registryAvailable())("RegistryClient against docker-registry (htpasswd basic auth)", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: { username: "ferry", password: "s3cret-pass" } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("authenticates with basic credentials", async () => {
    const img = await pushImage(reg, "private/app", "v1", { layers: [2 * 1024 * 1024] });
    const client = new RegistryClient({ url: reg.url, credentials: { username: "ferry", password: "s3cret-pass" } });
    try {
      expect((await client.ping()).auth).toBe("basic");
      expect(await client.listRepositories()).toEqual(["private/app"]);
      expect((await client.getManifest("private/app", "v1")).digest).toBe(img.digest);
      const layer = img.blobs[1]!;
      const bytes = await drain(await client.getBlob("private/app", layer.digest, { expectedSize: layer.size }));
      expect(sha256(bytes)).toBe(layer.digest);
    } finally {
      await client.close();
    }
  });

  it("fails with UNAUTHORIZED (and no secret in the message) for wrong or missing credentials", async () => {
    const wrong = new RegistryClient({ url: reg.url, credentials: { username: "ferry", password: "wrong-password-xyz" }, retry: { maxRetries: 0 } });
    const none = new RegistryClient({ url: reg.url, retry: { maxRetries: 0 } });
    try {
      const err = (await wrong.ping().catch((e: unknown) => e)) as OciError;
      expect(err).toMatchObject({ code: "UNAUTHORIZED", status: 401, retryable: false });
      expect(err.message).not.toContain("wrong-password-xyz");
      await expect(none.listTags("private/app")).rejects.toMatchObject({ code: "UNAUTHORIZED", status: 401 });
    } finally {
      await wrong.close();
      await none.close();
    }
  });
});
