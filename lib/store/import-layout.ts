/**
 * Seeds a repository from an OCI image layout on disk (what `skopeo copy … oci:<dir>:<tag>`, oras
 * or crane write): the way to fill an air-gapped mirror without network access. The layout is
 * input from outside: every path into it is built from a validated digest, only regular files
 * (never symlinks) are read, and manifests are size-capped. Everything goes through one staging
 * area, so the store's commit contract holds: nothing becomes visible unless every manifest and
 * blob verified; on any failure the staging area is discarded.
 */
import { constants } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { join } from "node:path";
import { AppError, isAppError } from "../errors";
import { mapLimit } from "../concurrency";
import { isCode } from "./layout";
import { MAX_MANIFEST_BYTES, parseManifest, requiredBlobs, type Descriptor } from "./manifest";
import { assertRepoName, isValidTag, parseDigest } from "./names";
import { REF_NAME } from "./oci-index";
import type { Staging, Store } from "./types";

/** Blobs copied at once: each is a kernel copy plus a hash in a worker thread (import-pool.ts). */
const BLOB_CONCURRENCY = 8;
/** index.json lists every tag of the layout; far beyond any real one, small enough to read whole. */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;

export interface ImportLayoutOptions {
  /** Only these tags (ref names); untagged roots are then skipped. Default: everything. */
  tags?: string[];
}

export interface ImportLayoutResult {
  repo: string;
  tags: string[];
  manifests: number;
  blobs: number;
  /** Bytes of the distinct manifests and blobs imported (or found already stored). */
  bytes: number;
}

export async function importOciLayout(store: Store, dir: string, repo: string, options: ImportLayoutOptions = {}): Promise<ImportLayoutResult> {
  assertRepoName(repo);
  await checkLayoutMarker(dir);
  const { tagged, untagged } = await readRoots(dir);
  const roots = selectRoots(tagged, untagged, options.tags);
  const staging = await store.stage(repo);
  try {
    const walk = { manifests: new Set<string>(), blobs: new Map<string, Descriptor>(), bytes: 0 };
    for (const { descriptor } of roots) await stageManifest(staging, dir, descriptor, walk);
    await mapLimit([...walk.blobs.values()], BLOB_CONCURRENCY, async (d) => {
      const path = blobFile(dir, d.digest);
      await assertRegularFile(path, d.digest);
      return staging.writeBlobFromFile(d.digest, d.size, path);
    });
    const tags: string[] = [];
    for (const { tag, descriptor } of roots) {
      if (tag === undefined) continue;
      staging.tag(tag, descriptor.digest);
      tags.push(tag);
    }
    await store.commitAll(repo, staging);
    const blobBytes = [...walk.blobs.values()].reduce((n, d) => n + d.size, 0);
    return { repo, tags, manifests: walk.manifests.size, blobs: walk.blobs.size, bytes: walk.bytes + blobBytes };
  } catch (err) {
    await store.cleanupImage(staging);
    throw err;
  }
}

interface Root {
  tag: string | undefined;
  descriptor: Descriptor;
}

async function checkLayoutMarker(dir: string): Promise<void> {
  const text = (await readLayoutFile(join(dir, "oci-layout"), 4096, "oci-layout")).toString("utf8");
  let version: unknown;
  try {
    version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw badLayout("oci-layout is not JSON", { dir });
  }
  if (version !== "1.0.0") throw badLayout("unsupported OCI layout version", { dir, imageLayoutVersion: String(version) });
}

/** index.json's manifests, split into tagged (ref name) and untagged roots. */
async function readRoots(dir: string): Promise<{ tagged: Map<string, Descriptor>; untagged: Descriptor[] }> {
  const bytes = await readLayoutFile(join(dir, "index.json"), MAX_INDEX_BYTES, "index.json");
  let descriptors: Descriptor[];
  try {
    // index.json is an image index: the manifest parser checks its shape and every descriptor.
    descriptors = parseManifest(bytes).manifests;
  } catch (err) {
    throw badLayout(`index.json: ${(err as Error).message}`, { dir });
  }
  const tagged = new Map<string, Descriptor>();
  const untagged: Descriptor[] = [];
  for (const d of descriptors) {
    const ref = d.annotations?.[REF_NAME];
    if (ref === undefined) {
      untagged.push(d);
      continue;
    }
    const tag = tagOfRef(ref);
    const seen = tagged.get(tag);
    if (seen && seen.digest !== d.digest) throw badLayout("index.json names one tag twice with different manifests", { tag });
    tagged.set(tag, d);
  }
  return { tagged, untagged };
}

/**
 * skopeo writes the bare tag as the ref name; other tools may write a whole reference
 * (`registry/name:tag`), whose tag is what follows the last `:` after the last `/`.
 */
function tagOfRef(ref: string): string {
  if (isValidTag(ref)) return ref;
  const tail = ref.slice(ref.lastIndexOf("/") + 1);
  const colon = tail.lastIndexOf(":");
  const tag = colon < 0 ? "" : tail.slice(colon + 1);
  if (!isValidTag(tag)) throw badLayout("index.json has a ref name that is not a tag", { refName: ref.slice(0, 300) });
  return tag;
}

function selectRoots(tagged: Map<string, Descriptor>, untagged: Descriptor[], wanted: string[] | undefined): Root[] {
  if (wanted === undefined || wanted.length === 0) {
    const roots: Root[] = [...tagged].map(([tag, descriptor]) => ({ tag, descriptor }));
    for (const descriptor of untagged) roots.push({ tag: undefined, descriptor });
    if (roots.length === 0) throw badLayout("the layout's index.json lists no manifests", {});
    return roots;
  }
  return [...new Set(wanted)].map((tag) => {
    const descriptor = tagged.get(tag);
    if (!descriptor) {
      const has = [...tagged.keys()].slice(0, 20).join(", ") || "none";
      throw badLayout(`the layout has no tag ${JSON.stringify(tag)} (it has: ${has})`, { tag });
    }
    return { tag, descriptor };
  });
}

/** Stages a manifest and, for an index, its children; collects the blobs they need. */
async function stageManifest(
  staging: Staging,
  dir: string,
  d: Descriptor,
  walk: { manifests: Set<string>; blobs: Map<string, Descriptor>; bytes: number },
): Promise<void> {
  if (walk.manifests.has(d.digest)) return;
  const bytes = await readLayoutFile(blobFile(dir, d.digest), MAX_MANIFEST_BYTES, d.digest);
  if (bytes.byteLength !== d.size) {
    throw new AppError("DIGEST_MISMATCH", "manifest size differs from its descriptor", { details: { digest: d.digest, size: d.size, actual: bytes.byteLength } });
  }
  await staging.writeManifest(bytes, { mediaType: d.mediaType, digest: d.digest });
  walk.manifests.add(d.digest);
  walk.bytes += bytes.byteLength;
  const parsed = parseManifest(bytes, d.mediaType);
  for (const child of parsed.manifests) await stageManifest(staging, dir, child, walk);
  for (const b of requiredBlobs(parsed)) {
    if (!walk.manifests.has(b.digest)) walk.blobs.set(b.digest, b);
  }
}

/** `<dir>/blobs/<alg>/<hex>`, only ever from a digest that passed validation. */
function blobFile(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, "blobs", algorithm, hex);
}

/**
 * Reads a small layout file whole: a regular file (O_NOFOLLOW refuses a symlink), at most `max`
 * bytes. A missing file is a malformed layout, not an internal error.
 */
async function readLayoutFile(path: string, max: number, what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) throw badLayout(`the layout lacks ${what}`, { path });
    if (isCode(err, "ELOOP")) throw badLayout(`${what} is a symbolic link`, { path });
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw badLayout(`${what} is not a regular file`, { path });
    if (st.size > max) throw badLayout(`${what} is too large`, { path, size: st.size, max });
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** For blobs, which the store opens itself: no symlink out of the layout, no device or FIFO. */
async function assertRegularFile(path: string, what: string): Promise<void> {
  try {
    if (!(await lstat(path)).isFile()) throw badLayout(`${what} is not a regular file`, { path });
  } catch (err) {
    if (isAppError(err)) throw err;
    if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) throw badLayout(`the layout lacks ${what}`, { path });
    throw err;
  }
}

function badLayout(message: string, details: Record<string, unknown>): AppError {
  return new AppError("BAD_USER_INPUT", `not a usable OCI layout: ${message}`, { details });
}
