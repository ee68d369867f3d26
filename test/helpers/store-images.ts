/**
 * Writes images straight into a Ferry store (through its staging API, as the sync engine does),
 * for tests of what Ferry serves independent of how it got there.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { Store } from "../../lib/store";
import { MT, sha256 } from "./images";

export interface StoredImage {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  layers: Array<{ digest: string; data: Buffer }>;
}

export async function storeImage(
  store: Store,
  repo: string,
  tag: string | null,
  opts: { layers?: number[]; platform?: { os: string; architecture: string }; subject?: { mediaType: string; digest: string; size: number }; artifactType?: string } = {},
): Promise<StoredImage> {
  const staging = await store.stage(repo);
  try {
    const img = await stageImage(staging, opts);
    if (tag) staging.tag(tag, img.digest);
    await store.commitAll(repo, staging);
    return img;
  } finally {
    await store.cleanupImage(staging);
  }
}

async function stageImage(
  staging: Awaited<ReturnType<Store["stage"]>>,
  opts: NonNullable<Parameters<typeof storeImage>[3]>,
): Promise<StoredImage> {
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const layers = (opts.layers ?? [2048]).map((n) => randomBytes(n));
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l)) } }));
  await staging.writeBlob(sha256(config), config.length, Readable.from([config]));
  for (const l of layers) await staging.writeBlob(sha256(l), l.length, Readable.from([l]));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: sha256(l), size: l.length })),
  };
  if (opts.subject) manifest.subject = opts.subject;
  if (opts.artifactType) manifest.artifactType = opts.artifactType;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await staging.writeManifest(bytes, { mediaType: MT.ociManifest });
  return { digest, mediaType: MT.ociManifest, bytes, layers: layers.map((data) => ({ digest: sha256(data), data })) };
}

/** A multi-arch OCI index over one image per platform, committed under `tag`. */
export async function storeIndex(store: Store, repo: string, tag: string, platforms: Array<{ os: string; architecture: string }>): Promise<StoredImage & { children: StoredImage[] }> {
  const staging = await store.stage(repo);
  try {
    const children: StoredImage[] = [];
    for (const platform of platforms) children.push(await stageImage(staging, { platform }));
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: children.map((c, i) => ({ mediaType: c.mediaType, digest: c.digest, size: c.bytes.length, platform: platforms[i] })),
    };
    const bytes = Buffer.from(JSON.stringify(index));
    const digest = await staging.writeManifest(bytes, { mediaType: MT.ociIndex });
    staging.tag(tag, digest);
    await store.commitAll(repo, staging);
    return { digest, mediaType: MT.ociIndex, bytes, layers: [], children };
  } finally {
    await store.cleanupImage(staging);
  }
}
