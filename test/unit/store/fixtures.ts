/** Small builders for store tests: blobs, manifests, and a one-call "push an image". */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { MEDIA_TYPES, type Descriptor, type Store } from "../../../lib/store";

export async function tempDir(prefix = "ferry-store-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export function blob(content: Buffer | string): Blob {
  const bytes = typeof content === "string" ? Buffer.from(content) : content;
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length, bytes };
}

export function body(b: Blob | Buffer): Readable {
  return Readable.from([Buffer.isBuffer(b) ? b : b.bytes]);
}

export function desc(b: Blob, mediaType: string): Descriptor {
  return { mediaType, digest: b.digest, size: b.size };
}

export function imageManifest(
  config: Blob,
  layers: Blob[],
  extra: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string>; configType?: string } = {},
): Blob {
  return blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      config: desc(config, extra.configType ?? "application/vnd.oci.image.config.v1+json"),
      layers: layers.map((l) => desc(l, "application/vnd.oci.image.layer.v1.tar+gzip")),
      ...(extra.subject ? { subject: extra.subject } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    }),
  );
}

export function indexManifest(children: Blob[]): Blob {
  return blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map((c) => desc(c, MEDIA_TYPES.ociManifest)),
    }),
  );
}

/** Stages and commits one image (config + layers + manifest, optionally tagged); returns the manifest. */
export async function pushImage(
  store: Store,
  repo: string,
  tag: string | null,
  layers: Blob[],
  extra: Parameters<typeof imageManifest>[2] = {},
): Promise<Blob> {
  const config = blob(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers" }, tag, n: layers.length }));
  const manifest = imageManifest(config, layers, extra);
  const staging = await store.stage(repo);
  try {
    await staging.writeBlob(config.digest, config.size, body(config));
    for (const l of layers) await staging.writeBlob(l.digest, l.size, body(l));
    await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest, digest: manifest.digest });
    if (tag !== null) staging.tag(tag, manifest.digest);
    await store.commitAll(repo, staging);
  } finally {
    await store.cleanupImage(staging);
  }
  return manifest;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
