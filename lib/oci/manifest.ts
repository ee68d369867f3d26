/**
 * Manifest documents: the shapes Ferry relies on, validated loosely (unknown fields pass through
 * untouched, because the bytes are what get mirrored, not our re-serialisation), and the read
 * path that caps size and verifies the digest three ways before anything reaches the caller.
 */
import type { Readable } from "node:stream";
import { z } from "zod";
import { computeDigest } from "./digest";
import { OciError } from "./errors";
import { bareMediaType, isIndexMediaType, MANIFEST_MEDIA_TYPES, MediaTypes } from "./media-types";
import { isDigest, parseDigest } from "./reference";

const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: z.string().regex(/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z
    .looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional(), "os.version": z.string().optional() })
    .optional(),
});

const imageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).default([]),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const imageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A content descriptor (OCI image-spec). */
export type Descriptor = z.infer<typeof descriptorSchema>;
/** An image (or artifact) manifest: config plus layers. */
export type ImageManifest = z.infer<typeof imageManifestSchema>;
/** An image index or Docker manifest list. */
export type ImageIndex = z.infer<typeof imageIndexSchema>;
/** Either kind, discriminated by `kind`. */
export type ParsedManifest = { kind: "index"; index: ImageIndex } | { kind: "image"; manifest: ImageManifest };

/** Parses manifest bytes of the given media type; throws MANIFEST_INVALID. */
export function parseManifest(bytes: Buffer, mediaType: string, what: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new OciError("MANIFEST_INVALID", `${what}: manifest is not valid JSON`);
  }
  const asIndex = isIndexMediaType(mediaType) || (typeof json === "object" && json !== null && "manifests" in json);
  const result = asIndex ? imageIndexSchema.safeParse(json) : imageManifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new OciError("MANIFEST_INVALID", `${what}: manifest of type ${mediaType} is invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? ""}`);
  }
  return asIndex ? { kind: "index", index: result.data as ImageIndex } : { kind: "image", manifest: result.data as ImageManifest };
}

/** The media type: Content-Type unless generic, then the document's own `mediaType`, then by shape. */
export function resolveMediaType(contentType: string | undefined, bytes: Buffer): string {
  const ct = bareMediaType(contentType);
  if (ct && MANIFEST_MEDIA_TYPES.includes(ct)) return ct;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === "string" && doc.mediaType) return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
  } catch {
    // invalid JSON is reported by parseManifest
  }
  return ct && ct !== "application/json" && ct !== "text/plain" ? ct : MediaTypes.ociManifest;
}

/** Reads at most `max` bytes; more (announced or actual) is MANIFEST_TOO_LARGE and the body is dropped. */
export async function readCapped(
  body: Readable,
  max: number,
  contentLength: string | undefined,
  what: string,
  tooLarge: () => OciError = () => new OciError("MANIFEST_TOO_LARGE", `${what}: manifest is larger than the ${max}-byte limit`),
): Promise<Buffer> {
  const announced = contentLength === undefined ? undefined : Number(contentLength);
  if (announced !== undefined && announced > max) {
    body.on("error", () => {});
    body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Verifies manifest bytes: the computed digest must equal the digest asked for (when the
 * reference is a digest) and the registry's `Docker-Content-Digest` (when sent). Returns the
 * digest to record, in the algorithm requested (sha256 for tags).
 */
export function verifyManifestDigest(bytes: Buffer, ref: string, headerDigest: string | undefined, what: string): string {
  const algorithm = isDigest(ref) ? parseDigest(ref).algorithm : "sha256";
  const computed = computeDigest(bytes, algorithm);
  if (isDigest(ref) && computed !== ref) {
    throw new OciError("DIGEST_MISMATCH", `${what}: manifest bytes hash to ${computed}, not the requested ${ref}`);
  }
  if (headerDigest) {
    let headerAlg: "sha256" | "sha512";
    try {
      headerAlg = parseDigest(headerDigest).algorithm;
    } catch {
      throw new OciError("INVALID_RESPONSE", `${what}: registry sent an invalid Docker-Content-Digest header`);
    }
    const check = headerAlg === algorithm ? computed : computeDigest(bytes, headerAlg);
    if (check !== headerDigest) {
      throw new OciError("DIGEST_MISMATCH", `${what}: manifest bytes hash to ${check}, but the registry says ${headerDigest}`);
    }
  }
  return computed;
}
