/**
 * Copies one manifest tree (index → children → config and layers) from an upstream repository
 * into a store staging area. Nothing here commits: the caller stages, copies, tags, commits, and
 * discards the staging area on any failure.
 *
 * - Every manifest is fetched by digest, so the tree is the one the HEAD saw even if the tag
 *   moves meanwhile; lib/oci verifies manifest and blob digests while reading, the store verifies
 *   again while writing.
 * - Blobs the store already holds (any repository) are linked, never downloaded. A blob another
 *   copy in this process is downloading right now is waited for, then linked.
 * - Child manifests the local repository already holds are complete there (the store commits
 *   children first and checks completeness), so their subtree is not fetched again.
 * - Non-distributable (foreign) layers are not copied: registries do not serve them.
 * - With a platform filter, an index keeps only matching children (and buildx attestation
 *   manifests of kept children) and is re-serialised, so the stored index lists exactly what the
 *   store holds. The rewritten digest differs from upstream; tag state remembers both.
 * - With `convertToOCI`, Docker manifests and manifest lists are stored as their OCI conversion
 *   (convert-oci.ts); blobs are copied unchanged. `finishImage`/`finishIndex` decide the stored
 *   bytes and are shared with predict-digest.ts, so a prediction and a copy cannot disagree.
 */
import { AppError } from "../errors";
import { computeDigest, isIndexMediaType, MediaTypes, validateDigest, type Descriptor, type FetchedManifest, type RegistryClient } from "../oci";
import type { Staging, Store } from "../store";
import { formatPlatform, platformMatches, type PlatformSpec } from "./content-rules";
import { convertImageManifest, convertIndex, isDockerManifestType } from "./convert-oci";
import { mapLimit, type Semaphore } from "../concurrency";
import type { SyncContext } from "./service-types";

/** Counters for one sync operation, reported through `SyncContext.progress`. */
export interface CopyCounters {
  bytesCopied: number;
  blobsCopied: number;
  blobsSkipped: number;
  bytesTotal: number;
}

export function newCounters(): CopyCounters {
  return { bytesCopied: 0, blobsCopied: 0, blobsSkipped: 0, bytesTotal: 0 };
}

/** What a copy shares with other copies of the same service. */
export interface CopyEnv {
  store: Store;
  /** Bounds concurrent blob downloads to the registry's request limit. */
  blobLimit: Semaphore;
  /** Blob digests being written right now by any copy of this service. */
  inflight: Map<string, Promise<unknown>>;
}

export interface CopyJob {
  env: CopyEnv;
  client: RegistryClient;
  upstreamRepo: string;
  localRepo: string;
  staging: Staging;
  ctx: SyncContext;
  counters: CopyCounters;
  /** Keep only these platforms of indexes; undefined keeps all. */
  platforms?: readonly PlatformSpec[];
  /** Store Docker manifests and lists as OCI manifests and indexes. */
  convertToOCI?: boolean;
  /** Child manifests already read (by a digest prediction), by digest. */
  prefetched?: ReadonlyMap<string, FetchedManifest>;
}

/** How a tree is transformed on its way into the store (shared by copy and prediction). */
export interface TreeOptions {
  platforms?: readonly PlatformSpec[] | undefined;
  convertToOCI?: boolean | undefined;
}

/** Where a manifest ends up in the store. */
export interface StoredRef {
  digest: string;
  mediaType: string;
  size: number;
}

/** The stored root of a copied tree. */
export interface CopiedManifest extends StoredRef {
  /** Bytes of the tree: manifests plus distinct blobs. */
  treeBytes: number;
  /** Platforms of the image manifests in the tree (from index descriptors). */
  platforms: string[];
}

const ATTESTATION_TYPE = "attestation-manifest";

/** Copies `root` and everything it references into the job's staging area. */
export async function copyTree(job: CopyJob, root: FetchedManifest): Promise<CopiedManifest> {
  const blobsSeen = new Set<string>();
  return copyManifest(job, root, blobsSeen, 0);
}

async function copyManifest(job: CopyJob, m: FetchedManifest, blobsSeen: Set<string>, depth: number): Promise<CopiedManifest> {
  job.ctx.signal.throwIfAborted();
  if (depth > 8) throw new AppError("UPSTREAM_ERROR", "index nesting deeper than 8 levels", { details: { digest: m.digest } });
  if (m.parsed.kind === "image") {
    const manifest = m.parsed.manifest;
    const blobs = [manifest.config, ...manifest.layers].filter((d) => !isNonDistributable(d));
    let treeBytes = m.size;
    const fresh: Descriptor[] = [];
    for (const d of blobs) {
      if (blobsSeen.has(d.digest)) continue;
      blobsSeen.add(d.digest);
      treeBytes += d.size;
      fresh.push(d);
    }
    job.counters.bytesTotal += treeBytes;
    report(job);
    await mapLimit(fresh, fresh.length || 1, (d) => copyBlob(job, d));
    const out = finishImage(m, job);
    await job.staging.writeManifest(out.bytes, { mediaType: out.mediaType, digest: out.digest });
    return { digest: out.digest, mediaType: out.mediaType, size: out.bytes.length, treeBytes: treeBytes - m.size + out.bytes.length, platforms: [] };
  }

  const children = selectChildren(m.parsed.index.manifests, job.platforms);
  const results = await mapLimit(children, 4, async (d) => copyChild(job, d, blobsSeen, depth));
  const out = finishIndex(m, children, results, job);
  await job.staging.writeManifest(out.bytes, { mediaType: out.mediaType, digest: out.digest });
  const platforms = new Set<string>();
  let treeBytes = out.bytes.length;
  for (const k of out.kept) {
    treeBytes += k.stored.treeBytes;
    if (k.original.platform && !isAttestation(k.original)) platforms.add(formatPlatform(k.original.platform));
    for (const p of k.stored.platforms) platforms.add(p);
  }
  return { digest: out.digest, mediaType: out.mediaType, size: out.bytes.length, treeBytes, platforms: [...platforms].sort() };
}

/** The bytes an image manifest is stored as: upstream's, or their OCI conversion. */
export function finishImage(m: FetchedManifest, opts: TreeOptions): StoredRef & { bytes: Buffer } {
  if (!opts.convertToOCI || !isDockerManifestType(m.mediaType) || m.parsed.kind !== "image") {
    return { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType, size: m.size };
  }
  const bytes = convertImageManifest(m.parsed.manifest);
  return { bytes, digest: computeDigest(bytes, "sha256"), mediaType: MediaTypes.ociManifest, size: bytes.length };
}

/**
 * The bytes an index is stored as, given where each selected child ended up (null: dropped by
 * the platform filter). An index child that kept no platform is dropped, attestations of dropped
 * children too; the upstream bytes are kept when nothing changed, so digests are preserved.
 */
export function finishIndex<C extends StoredRef>(
  m: FetchedManifest,
  children: readonly Descriptor[],
  results: ReadonlyArray<C | null>,
  opts: TreeOptions,
): StoredRef & { bytes: Buffer; kept: Array<{ original: Descriptor; stored: C }> } {
  if (m.parsed.kind !== "index") throw new AppError("INTERNAL", `finishIndex called on image manifest ${m.digest}`);
  const index = m.parsed.index;
  const kept: Array<{ original: Descriptor; stored: C }> = [];
  children.forEach((original, i) => {
    const stored = results[i];
    if (stored) kept.push({ original, stored });
  });
  const keptDigests = new Set(kept.filter((k) => !isAttestation(k.original)).map((k) => k.original.digest));
  const final = kept.filter((k) => !isAttestation(k.original) || keptDigests.has(k.original.annotations?.["vnd.docker.reference.digest"] ?? ""));
  if (final.length === 0 && index.manifests.length > 0) {
    throw new AppError("NOT_FOUND", `no child of index ${m.digest} matches the configured platforms`, {
      details: { digest: m.digest, platforms: (opts.platforms ?? []).map(formatPlatform) },
    });
  }
  if (opts.convertToOCI && m.mediaType === MediaTypes.dockerManifestList) {
    const bytes = convertIndex(index, final.map((k) => ({ original: k.original, digest: k.stored.digest, size: k.stored.size, mediaType: childType(k) })));
    return { bytes, digest: computeDigest(bytes, "sha256"), mediaType: MediaTypes.ociIndex, size: bytes.length, kept: final };
  }
  const unchanged = final.length === index.manifests.length && final.every((k) => k.stored.digest === k.original.digest);
  if (unchanged) return { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType, size: m.size, kept: final };
  const bytes = rewriteIndex(
    m.bytes,
    final.map((k) => ({ ...rawDescriptor(m.bytes, k.original), mediaType: childType(k), digest: k.stored.digest, size: k.stored.size })),
  );
  return { bytes, digest: computeDigest(bytes, "sha256"), mediaType: m.mediaType, size: bytes.length, kept: final };
}

/**
 * The media type an index lists for a child: the upstream descriptor's unless the child was
 * rewritten. (The copy learns a child's type from the response or the store, the prediction
 * from the descriptor; for an unchanged child both must give the same bytes.)
 */
function childType(k: { original: Descriptor; stored: StoredRef }): string {
  return k.stored.digest === k.original.digest ? k.original.mediaType : k.stored.mediaType;
}

/** Copies one index child, or returns null when a platform filter leaves nothing of it. */
async function copyChild(job: CopyJob, d: Descriptor, blobsSeen: Set<string>, depth: number): Promise<CopiedManifest | null> {
  const nestedIndex = isIndexMediaType(d.mediaType);
  if (!mayRewrite(d.mediaType, job)) {
    const stored = await storedTree(job, d, blobsSeen);
    if (stored) return stored;
  }
  const child = job.prefetched?.get(d.digest) ?? (await job.client.getManifest(job.upstreamRepo, d.digest, { signal: job.ctx.signal }));
  try {
    return await copyManifest(job, child, blobsSeen, depth + 1);
  } catch (err) {
    if (nestedIndex && job.platforms && (err as { code?: unknown }).code === "NOT_FOUND" && (err as AppError).details?.platforms) return null;
    throw err;
  }
}

/**
 * When the local repository already holds a child manifest, its subtree is complete there: no
 * upstream request is needed. Returns its description read from the store, or null.
 */
async function storedTree(job: CopyJob, d: Descriptor, blobsSeen: Set<string>): Promise<CopiedManifest | null> {
  let stored;
  try {
    stored = await job.env.store.getManifest(job.localRepo, d.digest);
  } catch {
    return null;
  }
  let treeBytes = stored.size;
  const platforms: string[] = [];
  try {
    const doc = JSON.parse(stored.bytes.toString("utf8")) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    for (const b of [doc.config, ...(doc.layers ?? [])]) {
      if (b && !blobsSeen.has(b.digest) && !isNonDistributable(b)) {
        blobsSeen.add(b.digest);
        treeBytes += b.size;
      }
    }
    for (const c of doc.manifests ?? []) {
      const sub = await storedTree(job, c, blobsSeen);
      if (sub) treeBytes += sub.treeBytes;
      if (c.platform && !isAttestation(c)) platforms.push(formatPlatform(c.platform));
    }
  } catch {
    return null;
  }
  job.counters.bytesTotal += treeBytes;
  return { digest: stored.digest, mediaType: stored.mediaType, size: stored.size, treeBytes, platforms };
}

/**
 * Whether a manifest of this type may be stored under another digest than upstream's. For a
 * child, the local repository holding the upstream digest then says nothing (it may be an unconverted copy from before
 * `convertToOCI` was turned on), and the child must be read to know where it ends up.
 */
export function mayRewrite(mediaType: string, opts: TreeOptions): boolean {
  if (isIndexMediaType(mediaType)) return Boolean(opts.platforms || opts.convertToOCI);
  return Boolean(opts.convertToOCI && isDockerManifestType(mediaType));
}

/** Children kept by the platform filter: matching images, nested indexes, and their attestations. */
export function selectChildren(children: readonly Descriptor[], platforms: readonly PlatformSpec[] | undefined): Descriptor[] {
  if (!platforms) return [...children];
  return children.filter((c) => {
    if (isAttestation(c)) return true; // kept only if its subject is kept (checked after copying)
    if (isIndexMediaType(c.mediaType) && !c.platform) return true;
    return platformMatches(c.platform, platforms);
  });
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.["vnd.docker.reference.type"] === ATTESTATION_TYPE;
}

/** Foreign (Windows) and non-distributable layers: never served by registries, never copied. */
export function isNonDistributable(d: Descriptor): boolean {
  return d.mediaType.includes(".nondistributable.") || d.mediaType.includes(".foreign.");
}

/** The descriptor object exactly as it appears in the index JSON (unknown fields kept). */
function rawDescriptor(indexBytes: Buffer, d: Descriptor): Record<string, unknown> {
  const doc = JSON.parse(indexBytes.toString("utf8")) as { manifests?: Array<Record<string, unknown>> };
  return doc.manifests?.find((x) => x.digest === d.digest) ?? { ...d };
}

/** The index JSON with `manifests` replaced; every other field kept as it was. */
function rewriteIndex(indexBytes: Buffer, manifests: Array<Record<string, unknown>>): Buffer {
  const doc = JSON.parse(indexBytes.toString("utf8")) as Record<string, unknown>;
  doc.manifests = manifests;
  return Buffer.from(JSON.stringify(doc));
}

/**
 * One blob: linked when the store has it, else downloaded once (concurrent copies of the same
 * digest in this process wait for the first and then link).
 */
async function copyBlob(job: CopyJob, d: Descriptor): Promise<void> {
  const { env, staging, counters } = job;
  // An upstream descriptor's digest is checked as the client checks it (UNSUPPORTED_DIGEST for
  // md5 and friends) before the store sees it (which would only say BAD_USER_INPUT).
  validateDigest(d.digest);
  for (;;) {
    const running = env.inflight.get(d.digest);
    if (!running) break;
    await running.catch(() => undefined);
  }
  // Registered before the first await, so a concurrent copy of the same digest waits for this one.
  const work = (async () => {
    if (await staging.linkExistingBlob(d.digest, d.size)) {
      counters.blobsSkipped++;
      report(job);
      return;
    }
    await env.blobLimit.run(async () => {
      job.ctx.signal.throwIfAborted();
      // The store hashes every byte it writes and refuses a mismatch before the blob gets its
      // final name, so the client checks sizes only: one sha256 per blob instead of two.
      // Bytes are counted by the blob stream itself as they pass (a counting Transform cost a
      // stream hop per 64 KiB chunk); the store consumes the stream and destroys it on failure.
      const stream = await job.client.getBlob(job.upstreamRepo, d.digest, {
        expectedSize: d.size,
        signal: job.ctx.signal,
        verifyDigest: false,
        onChunk: (n) => {
          counters.bytesCopied += n;
        },
      });
      const r = await staging.writeBlob(d.digest, d.size, stream).catch((err: unknown) => {
        stream.destroy(); // a write that failed before reading must still free the connection
        throw err;
      });
      if (r.deduped) counters.blobsSkipped++;
      else counters.blobsCopied++;
      report(job);
    });
  })();
  env.inflight.set(d.digest, work);
  try {
    await work;
  } finally {
    if (env.inflight.get(d.digest) === work) env.inflight.delete(d.digest);
  }
}

function report(job: CopyJob): void {
  const c = job.counters;
  job.ctx.progress?.({ bytesCopied: c.bytesCopied, blobsCopied: c.blobsCopied, blobsSkipped: c.blobsSkipped, bytesTotal: c.bytesTotal });
}
