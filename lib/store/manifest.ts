/**
 * Just enough manifest parsing for the store: which blobs and child manifests a manifest needs
 * (for commit ordering, completeness and GC), its `subject` (for referrers), and its media type.
 * Full OCI validation is the sync engine's job; here we refuse what we could not serve correctly.
 */
import { z } from "zod";
import { AppError } from "../errors";
import { isDigest } from "./names";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([...INDEX_TYPES, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Registries commonly cap manifests at 4 MiB; anything larger is almost surely not a manifest. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, unknown>;
}

const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: z.string().refine(isDigest, "unsupported digest"),
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.record(z.string(), z.unknown()).optional(),
});

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema.optional(),
  layers: z.array(descriptorSchema).optional(),
  manifests: z.array(descriptorSchema).optional(),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  artifactType: string | undefined;
  config: Descriptor | undefined;
  layers: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject: Descriptor | undefined;
  annotations: Record<string, string> | undefined;
}

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.has(mediaType);
}

/**
 * Parses manifest bytes. `declared` is the media type the caller got with them (Content-Type);
 * a manifest whose own `mediaType` field disagrees is refused, as the OCI spec requires.
 */
export function parseManifest(bytes: Uint8Array, declared?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    throw invalid("manifest is not JSON");
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw invalid("manifest is not a schemaVersion 2 OCI or Docker manifest");
  const m = parsed.data;
  if (declared !== undefined && m.mediaType !== undefined && m.mediaType !== declared) {
    throw invalid("manifest mediaType field differs from its declared media type");
  }
  const mediaType = declared ?? m.mediaType ?? (m.manifests ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
  if (!MANIFEST_TYPES.has(mediaType)) throw invalid(`unsupported manifest media type ${mediaType}`);
  const isIndex = INDEX_TYPES.has(mediaType);
  if (isIndex ? !m.manifests : !m.config) throw invalid("manifest lacks its required field");
  return {
    mediaType,
    isIndex,
    artifactType: m.artifactType,
    config: m.config,
    layers: m.layers ?? [],
    manifests: m.manifests ?? [],
    subject: m.subject,
    annotations: m.annotations,
  };
}

/**
 * Layers that registries never serve (Windows foreign layers): a manifest may name them without
 * the store holding them.
 */
export function isNonDistributable(d: Descriptor): boolean {
  return d.mediaType.includes(".nondistributable.") || d.mediaType.includes(".foreign.");
}

/** The blobs (config, layers) a manifest needs present, excluding non-distributable layers. */
export function requiredBlobs(m: ParsedManifest): Descriptor[] {
  const out = m.layers.filter((d) => !isNonDistributable(d));
  if (m.config) out.unshift(m.config);
  return out;
}

/** The referrer descriptor of a manifest, as the OCI referrers API returns it. */
export function referrerDescriptor(digest: string, size: number, m: ParsedManifest): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest, size };
  const artifactType = m.artifactType ?? (m.isIndex ? undefined : m.config?.mediaType);
  if (artifactType !== undefined) d.artifactType = artifactType;
  if (m.annotations !== undefined) d.annotations = m.annotations;
  return d;
}

function invalid(message: string): AppError {
  return new AppError("BAD_USER_INPUT", message);
}
