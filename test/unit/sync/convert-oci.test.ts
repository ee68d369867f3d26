import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MediaTypes, type FetchedManifest, type ImageIndex, type ImageManifest } from "../../../lib/oci";
import { convertImageManifest, convertIndex, ociMediaType } from "../../../lib/sync/convert-oci";
import { finishImage, finishIndex, selectChildren } from "../../../lib/sync/copy-image";
import { predictStoredDigest } from "../../../lib/sync/predict-digest";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function fetched(doc: Record<string, unknown>, mediaType: string): FetchedManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  const parsed = "manifests" in doc ? { kind: "index" as const, index: doc as unknown as ImageIndex } : { kind: "image" as const, manifest: doc as unknown as ImageManifest };
  return { bytes, digest: digestOf(bytes), mediaType, size: bytes.length, parsed };
}

const dockerImage = (layer: string, extra: Record<string, unknown> = {}) =>
  fetched(
    {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 10, digest: d("c") },
      layers: [
        { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", size: 99, digest: d("f"), urls: ["https://example.com/f"] },
        { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 20, digest: d(layer) },
      ],
      ...extra,
    },
    MediaTypes.dockerManifest,
  );

describe("convertToOCI", () => {
  it("maps Docker media types and leaves others alone", () => {
    expect(ociMediaType("application/vnd.docker.container.image.v1+json")).toBe("application/vnd.oci.image.config.v1+json");
    expect(ociMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip")).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(ociMediaType("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")).toBe("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
    expect(ociMediaType("application/vnd.oci.image.layer.v1.tar+zstd")).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
  });

  it("serialises an image manifest deterministically, in spec key order, blobs unchanged", () => {
    const m = dockerImage("a", { unknownDockerField: 1 });
    if (m.parsed.kind !== "image") throw new Error("image expected");
    const bytes = convertImageManifest(m.parsed.manifest);
    expect(bytes.toString()).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 10 },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: d("f"), size: 99, urls: ["https://example.com/f"] },
          { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("a"), size: 20 },
        ],
      }),
    );
    // Same input, same bytes; key order of the input does not matter.
    const reordered = fetched(JSON.parse(JSON.stringify({ layers: (m.parsed.manifest as { layers: unknown }).layers, config: m.parsed.manifest.config, mediaType: MediaTypes.dockerManifest, schemaVersion: 2 })) as Record<string, unknown>, MediaTypes.dockerManifest);
    if (reordered.parsed.kind !== "image") throw new Error("image expected");
    expect(convertImageManifest(reordered.parsed.manifest).equals(bytes)).toBe(true);
    expect(finishImage(m, { convertToOCI: true })).toMatchObject({ digest: digestOf(bytes), mediaType: MediaTypes.ociManifest });
    expect(finishImage(m, {})).toMatchObject({ digest: m.digest, mediaType: MediaTypes.dockerManifest });
  });

  it("converts a manifest list with platforms kept and children re-pointed", () => {
    const list = fetched(
      {
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifestList,
        manifests: [
          { mediaType: MediaTypes.dockerManifest, size: 1, digest: d("1"), platform: { architecture: "amd64", os: "linux", features: ["sse4"] } },
          { mediaType: MediaTypes.dockerManifest, size: 2, digest: d("2"), platform: { architecture: "arm64", os: "linux", variant: "v8" } },
        ],
      },
      MediaTypes.dockerManifestList,
    );
    if (list.parsed.kind !== "index") throw new Error("index expected");
    const [a, b] = list.parsed.index.manifests;
    const bytes = convertIndex(list.parsed.index, [
      { original: a!, digest: d("3"), size: 30, mediaType: MediaTypes.ociManifest },
      { original: b!, digest: d("4"), size: 40, mediaType: MediaTypes.ociManifest },
    ]);
    expect(JSON.parse(bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: d("3"), size: 30, platform: { architecture: "amd64", os: "linux" } },
        { mediaType: MediaTypes.ociManifest, digest: d("4"), size: 40, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
      ],
    });
  });

  it("predicts what the copy stores: children fetched only when they may change", async () => {
    const c1 = dockerImage("1");
    const c2 = dockerImage("2");
    const list = fetched(
      {
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifestList,
        manifests: [
          { mediaType: MediaTypes.dockerManifest, size: c1.size, digest: c1.digest, platform: { architecture: "amd64", os: "linux" } },
          { mediaType: MediaTypes.dockerManifest, size: c2.size, digest: c2.digest, platform: { architecture: "arm64", os: "linux" } },
        ],
      },
      MediaTypes.dockerManifestList,
    );
    const byDigest = new Map([c1, c2].map((m) => [m.digest, m]));
    const reads: string[] = [];
    const fetch = async (digest: string) => {
      reads.push(digest);
      return byDigest.get(digest)!;
    };
    const p = await predictStoredDigest(list, { convertToOCI: true }, fetch);
    expect(reads.sort()).toEqual([c1.digest, c2.digest].sort());
    // The copy's own assembly of the same children gives the same digest.
    if (list.parsed.kind !== "index") throw new Error("index expected");
    const children = selectChildren(list.parsed.index.manifests, undefined);
    const stored = [c1, c2].map((c) => finishImage(c, { convertToOCI: true }));
    expect(finishIndex(list, children, stored, { convertToOCI: true }).digest).toBe(p.ociDigest);
    expect(p).toMatchObject({ upstreamDigest: list.digest, converted: true, mediaType: MediaTypes.ociIndex });

    reads.length = 0;
    expect(await predictStoredDigest(list, {}, fetch)).toMatchObject({ ociDigest: list.digest, converted: false });
    expect(reads).toEqual([]);
  });
});
