/**
 * A repository's `index.json`: the OCI image-layout index. Its `manifests` are the repository's
 * roots: one entry per tag (annotation `org.opencontainers.image.ref.name`) and one untagged entry
 * per manifest stored by digest only (referrers such as signatures and SBOMs, images pulled by
 * digest). Children of an index are reachable through their parent and are not listed.
 * Everything not reachable from these roots is garbage (gc.ts).
 */
import { open, type FileHandle } from "node:fs/promises";
import { AppError } from "../errors";
import { isCode } from "./layout";
import { MEDIA_TYPES, type Descriptor } from "./manifest";

export const REF_NAME = "org.opencontainers.image.ref.name";

export interface OciIndex {
  schemaVersion: 2;
  mediaType: typeof MEDIA_TYPES.ociIndex;
  manifests: Descriptor[];
}

export function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };
}

/** Reads and checks an index.json; null when it does not exist. */
export async function readIndexFile(path: string): Promise<OciIndex | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (isCode(err, "ENOENT")) return null;
    throw err;
  }
  try {
    return parseIndex((await readAll(fh)).toString("utf8"), path);
  } finally {
    await fh.close();
  }
}

/** Start size of the read buffer: most indexes fit, and a bigger one is remembered. */
let readSize = 16 * 1024;

/**
 * The whole file without readFile's fstat: a read that does not fill the buffer has reached the
 * end of a regular file. One call fewer per commit and per uncached tag lookup, each a trip
 * through the libuv pool.
 */
async function readAll(fh: FileHandle): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.allocUnsafe(readSize);
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    chunks.push(buf.subarray(0, bytesRead));
    if (bytesRead < buf.length) return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    readSize = Math.min(readSize * 2, 64 * 1024 * 1024);
  }
}

export function parseIndex(text: string, where: string): OciIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError("INTERNAL", "store index.json is not JSON", { details: { where } });
  }
  const m = (json as { manifests?: unknown }).manifests;
  if (!Array.isArray(m)) throw new AppError("INTERNAL", "store index.json has no manifests", { details: { where } });
  return { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: m as Descriptor[] };
}

export function tagOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME];
}

/** What one commit adds: tags to (re)point, and untagged roots to keep. */
export interface IndexChange {
  tags: Map<string, Descriptor>;
  roots: Descriptor[];
}

/**
 * Pure read-modify-write step of a commit, applied under the repository lock to the index as it
 * is on disk at that moment — so concurrent commits of different tags each see the other's result.
 */
export function applyChange(index: OciIndex, change: IndexChange): OciIndex {
  const taggedDigests = new Set([...change.tags.values()].map((d) => d.digest));
  const kept = index.manifests.filter((d) => {
    const tag = tagOf(d);
    if (tag !== undefined) return !change.tags.has(tag);
    // An untagged entry becomes redundant once the same manifest is tagged.
    return !taggedDigests.has(d.digest);
  });
  const present = new Set(kept.map((d) => d.digest));
  for (const [tag, d] of change.tags) {
    kept.push({ ...d, annotations: { ...d.annotations, [REF_NAME]: tag } });
    present.add(d.digest);
  }
  for (const d of change.roots) {
    if (!present.has(d.digest)) {
      kept.push(d);
      present.add(d.digest);
    }
  }
  return { ...index, manifests: kept };
}

export function serializeIndex(index: OciIndex): Uint8Array {
  return Buffer.from(`${JSON.stringify(index, null, 1)}\n`);
}
