/**
 * Images as bytes, and docker-registry's on-disk layout, for the HTTP benchmarks: content is
 * written straight into the registry's filesystem (what a push leaves behind), which is much
 * faster than pushing it over HTTP and makes the registry serve it from its own disk.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { TestRegistry } from "../test/helpers/registry";

const MiB = 1024 * 1024;

export const MT = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
};

export interface Blob {
  digest: string;
  bytes: Buffer;
}
export interface Image {
  repo: string;
  config: Blob;
  layers: Blob[];
  manifest: Blob;
}

export const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
export const blob = (bytes: Buffer): Blob => ({ digest: sha256(bytes), bytes });

export function makeImage(repo: string, layers: Buffer[]): Image {
  const config = blob(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, repo })));
  const ls = layers.map(blob);
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.manifest,
        config: { mediaType: MT.config, digest: config.digest, size: config.bytes.length },
        layers: ls.map((l) => ({ mediaType: MT.layer, digest: l.digest, size: l.bytes.length })),
      }),
    ),
  );
  return { repo, config, layers: ls, manifest };
}

export function bigBuffer(size: number): Buffer {
  // Random 1 MiB pattern with a per-MiB counter: incompressible, cheap to generate.
  const buf = Buffer.allocUnsafe(size);
  const base = randomBytes(MiB);
  for (let off = 0, n = 0; off < size; off += MiB, n++) {
    base.copy(buf, off, 0, Math.min(MiB, size - off));
    if (off + 4 <= size) buf.writeUInt32LE(n, off);
  }
  return buf;
}

/** Writes an image into docker-registry's filesystem layout, as a push would have left it. */
export async function fillRegistry(reg: TestRegistry, images: Image[]): Promise<void> {
  const v2 = join(reg.root, "data", "docker", "registry", "v2");
  const put = async (file: string, data: Buffer | string) => {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, data);
  };
  for (const img of images) {
    const repoDir = join(v2, "repositories", img.repo);
    for (const b of [img.config, ...img.layers, img.manifest]) {
      const hex = b.digest.slice("sha256:".length);
      await put(join(v2, "blobs", "sha256", hex.slice(0, 2), hex, "data"), b.bytes);
      if (b !== img.manifest) await put(join(repoDir, "_layers", "sha256", hex, "link"), b.digest);
    }
    const mhex = img.manifest.digest.slice("sha256:".length);
    await put(join(repoDir, "_manifests", "revisions", "sha256", mhex, "link"), img.manifest.digest);
    await put(join(repoDir, "_manifests", "tags", "latest", "current", "link"), img.manifest.digest);
    await put(join(repoDir, "_manifests", "tags", "latest", "index", "sha256", mhex, "link"), img.manifest.digest);
  }
}

