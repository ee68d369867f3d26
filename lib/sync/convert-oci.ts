/**
 * `convertToOCI`: Docker v2 schema 2 manifests and manifest lists become OCI image manifests and
 * OCI indexes. Only manifests change. Configs and layers keep their bytes, so their digests stay;
 * the descriptors that point at them get OCI media types.
 *
 * The output is deterministic. The converted bytes depend only on the upstream manifest (and, for
 * a list, on the converted children): a fresh object with fixed key order, compact JSON, fields
 * Docker defines and OCI does not are dropped. `predict-digest.ts` relies on this to compute the
 * digest the store will hold from manifests alone. An unchanged converted image is then
 * recognised without downloading a blob. (The rejected alternative was to re-serialise the parsed
 * upstream object. That keeps unknown fields in whatever order the upstream tool wrote them, so
 * it is deterministic too, but it would carry Docker-only fields into OCI documents.)
 *
 * OCI manifests and indexes are never rewritten here. Their digests are preserved.
 */
import { MediaTypes, type Descriptor, type ImageIndex, type ImageManifest } from "../oci";

/** Docker media types and their OCI equivalents (manifests, config, layers). */
export const DOCKER_TO_OCI_MEDIA_TYPES: Readonly<Record<string, string>> = {
  [MediaTypes.dockerManifest]: MediaTypes.ociManifest,
  [MediaTypes.dockerManifestList]: MediaTypes.ociIndex,
  "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  // Uncompressed Docker layers exist (docker save | registry), rarely.
  "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.docker.image.rootfs.foreign.diff.tar": "application/vnd.oci.image.layer.nondistributable.v1.tar",
};

/** True for the two Docker manifest types that conversion rewrites. */
export function isDockerManifestType(mediaType: string): boolean {
  return mediaType === MediaTypes.dockerManifest || mediaType === MediaTypes.dockerManifestList;
}

/** The OCI media type for a Docker one; any other type (already OCI, or an artifact's) unchanged. */
export function ociMediaType(mediaType: string): string {
  return DOCKER_TO_OCI_MEDIA_TYPES[mediaType] ?? mediaType;
}

/** A converted child of an index: where it points now. */
export interface ConvertedChild {
  /** The child's descriptor as the upstream index lists it (platform, annotations...). */
  original: Descriptor;
  digest: string;
  size: number;
  mediaType: string;
}

/** An OCI image manifest with the content of a Docker v2 schema 2 manifest. */
export function convertImageManifest(m: ImageManifest): Buffer {
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: descriptor(m.config, {}),
    layers: m.layers.map((l) => descriptor(l, {})),
  };
  if (m.subject) doc.subject = descriptor(m.subject, { keepType: true });
  if (m.annotations && Object.keys(m.annotations).length > 0) doc.annotations = { ...m.annotations };
  return Buffer.from(JSON.stringify(doc));
}

/** An OCI index listing `children` (already converted) in place of a Docker manifest list's. */
export function convertIndex(index: ImageIndex, children: readonly ConvertedChild[]): Buffer {
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: children.map((c) => descriptor(c.original, { digest: c.digest, size: c.size, mediaType: c.mediaType, platform: true })),
  };
  if (index.annotations && Object.keys(index.annotations).length > 0) doc.annotations = { ...index.annotations };
  return Buffer.from(JSON.stringify(doc));
}

interface DescriptorOptions {
  digest?: string;
  size?: number;
  mediaType?: string;
  /** Keep the media type as is (a subject points at a manifest that is not converted here). */
  keepType?: boolean;
  /** Index entries carry a platform. */
  platform?: boolean;
}

/** An OCI descriptor, keys in spec order: mediaType, digest, size, urls, annotations, platform. */
function descriptor(d: Descriptor, o: DescriptorOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {
    mediaType: o.mediaType ?? (o.keepType ? d.mediaType : ociMediaType(d.mediaType)),
    digest: o.digest ?? d.digest,
    size: o.size ?? d.size,
  };
  if (d.urls && d.urls.length > 0) out.urls = [...d.urls];
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = { ...d.annotations };
  if (o.platform && d.platform) {
    const p = d.platform as Record<string, unknown>;
    const platform: Record<string, unknown> = { architecture: p.architecture, os: p.os };
    if (typeof p["os.version"] === "string") platform["os.version"] = p["os.version"];
    if (Array.isArray(p["os.features"]) && p["os.features"].length > 0) platform["os.features"] = p["os.features"];
    if (typeof p.variant === "string" && p.variant) platform.variant = p.variant;
    out.platform = platform;
  }
  return out;
}
