/**
 * Builds images and artifacts in memory and pushes them to a test registry over the plain
 * distribution API (monolithic uploads), so tests control every byte and media type.
 */
import { createHash, randomBytes } from "node:crypto";
// undici's own fetch, not Node's built-in one: importing undici 7 (lib/oci does) installs its Agent
// as the global dispatcher, which Node 20's bundled fetch then misuses ("invalid content-length").
import { fetch } from "undici";
import type { TestRegistry } from "./registry";

export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  emptyJson: "application/vnd.oci.empty.v1+json",
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PushedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  descriptor: Descriptor;
  blobs: Descriptor[];
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function headers(reg: TestRegistry, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (reg.auth) h.authorization = `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString("base64")}`;
  return h;
}

export async function pushBlob(reg: TestRegistry, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: headers(reg) });
  await start.body?.cancel();
  if (start.status !== 202) throw new Error(`blob upload start ${repo}: ${start.status}`);
  const loc = new URL(start.headers.get("location")!, reg.url);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, {
    method: "PUT",
    headers: headers(reg, { "content-type": "application/octet-stream", "content-length": String(data.length) }),
    body: new Uint8Array(data),
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`blob upload ${repo} ${digest}: ${put.status}`);
  return digest;
}

export async function pushManifest(reg: TestRegistry, repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: headers(reg, { "content-type": mediaType }),
    body: new Uint8Array(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`manifest put ${repo}:${ref}: ${res.status} ${text}`);
  return sha256(body);
}

export interface ImageSpec {
  /** Layer sizes in bytes (random content); default one 1 KiB layer. */
  layers?: number[];
  /** Use given layer contents instead (for sharing a layer between images). */
  layerData?: Buffer[];
  platform?: { os: string; architecture: string; variant?: string };
  docker?: boolean;
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Pushes an image (config + layers + manifest) under `ref`, or by digest when `ref` is "". */
export async function pushImage(reg: TestRegistry, repo: string, ref: string, spec: ImageSpec = {}): Promise<PushedManifest> {
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const layerData = spec.layerData ?? (spec.layers ?? [1024]).map((n) => randomBytes(n));
  const config = Buffer.from(
    JSON.stringify({ architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), created: new Date().toISOString(), rootfs: { type: "layers", diff_ids: layerData.map((l) => sha256(l)) } }),
  );
  const configMt = spec.docker ? MT.dockerConfig : MT.ociConfig;
  const layerMt = spec.docker ? MT.dockerLayer : MT.ociLayer;
  const blobs: Descriptor[] = [];
  const configDesc: Descriptor = { mediaType: configMt, digest: await pushBlob(reg, repo, config), size: config.length };
  blobs.push(configDesc);
  const layers: Descriptor[] = [];
  for (const l of layerData) {
    const d = { mediaType: layerMt, digest: await pushBlob(reg, repo, l), size: l.length };
    layers.push(d);
    blobs.push(d);
  }
  const mediaType = spec.docker ? MT.dockerManifest : MT.ociManifest;
  const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType, config: configDesc, layers };
  if (spec.artifactType) manifest.artifactType = spec.artifactType;
  if (spec.subject) manifest.subject = spec.subject;
  if (spec.annotations) manifest.annotations = spec.annotations;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await pushManifest(reg, repo, ref || sha256(bytes), bytes, mediaType);
  return { digest, mediaType, bytes, blobs, descriptor: { mediaType, digest, size: bytes.length, platform } };
}

/** Pushes one image per platform and an index (or Docker manifest list) over them. */
export async function pushIndex(
  reg: TestRegistry,
  repo: string,
  tag: string,
  platforms: Array<{ os: string; architecture: string; variant?: string }>,
  options: { docker?: boolean; layers?: number[] } = {},
): Promise<PushedManifest & { children: PushedManifest[] }> {
  const children: PushedManifest[] = [];
  for (const p of platforms) {
    children.push(await pushImage(reg, repo, "", { platform: p, docker: options.docker, layers: options.layers }));
  }
  const mediaType = options.docker ? MT.dockerList : MT.ociIndex;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: children.map((c) => c.descriptor) }));
  const digest = await pushManifest(reg, repo, tag, bytes, mediaType);
  return { digest, mediaType, bytes, blobs: children.flatMap((c) => c.blobs), children, descriptor: { mediaType, digest, size: bytes.length } };
}
