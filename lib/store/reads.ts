/**
 * Reads for `/v2` and the UI. They only ever look at `repos/` (never staging or tmp), go through
 * the symlink fence in layout.ts, and open files with O_NOFOLLOW. Every file they can see got its
 * final name by an atomic rename or link of verified content, so no lock is needed: a reader sees
 * the index before or after a commit, never a mix.
 */
import { createHash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { AppError } from "../errors";
import type { StoreContext } from "./context";
import { LAYOUT_DIR, isCode } from "./layout";
import { MAX_MANIFEST_BYTES, parseManifest, referrerDescriptor, type Descriptor, type ParsedManifest } from "./manifest";
import { assertTag, isDigest, isValidRepoName, parseDigest, DIGEST_ALGORITHMS } from "./names";
import { readIndexFile, tagOf, type OciIndex } from "./oci-index";
import type { ByteRange, Page, StoredManifest } from "./types";

/** index.json of `repo`, or null when the repository does not exist. */
export async function loadIndex(ctx: StoreContext, repo: string): Promise<OciIndex | null> {
  const oci = await ctx.layout.resolveRepo(repo);
  if (oci === null) return null;
  const path = join(oci, "index.json");
  let st: Stats;
  try {
    st = await statSoon(path);
  } catch (err) {
    if (isCode(err, "ENOENT")) return null;
    throw err;
  }
  const key = `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
  const cached = ctx.indexCache.get(repo);
  if (cached?.key === key) return cached.index;
  const index = await readIndexFile(path);
  if (index === null) return null;
  // A file written within the last RACY_INDEX_MS is not remembered (as git treats "racily clean"
  // entries): file times tick coarsely, and an inode freed by one commit's rename can be reused by
  // the next commit's index of the same size within one tick, giving a different index the same key.
  if (Date.now() - Math.max(st.mtimeMs, st.ctimeMs) > RACY_INDEX_MS) ctx.indexCache.set(repo, { key, index });
  else ctx.indexCache.delete(repo);
  return index;
}

/** Younger index.json files are re-read on every request (see loadIndex). */
const RACY_INDEX_MS = 2000;

/** Stats of index.json files about to be taken (see `statSoon`), by path. */
const pendingStats = new Map<string, Promise<Stats>>();

/**
 * stat(path), shared by the readers that ask for the same path before it starts: it starts at
 * the end of this turn of the event loop (setImmediate), so every reader that joins it asked
 * before it ran and sees the file as new as when it asked. Concurrent pulls of one repository
 * (every node of a rollout pulling one tag) then cost one stat and one thread-pool round trip per
 * turn instead of one each: that round trip was the largest cost of a manifest GET in the /v2
 * profile once the manifest bytes were remembered.
 */
function statSoon(path: string): Promise<Stats> {
  let pending = pendingStats.get(path);
  if (pending === undefined) {
    pending = new Promise<Stats>((resolve, reject) =>
      setImmediate(() => {
        pendingStats.delete(path);
        stat(path).then(resolve, reject);
      }),
    );
    pendingStats.set(path, pending);
  }
  return pending;
}

export async function resolveTag(ctx: StoreContext, repo: string, tag: string): Promise<string | null> {
  assertTag(tag);
  const index = await loadIndex(ctx, repo);
  if (index === null) return null;
  return findTag(index, tag)?.digest ?? null;
}

function findTag(index: OciIndex, tag: string): Descriptor | undefined {
  return index.manifests.findLast((d) => tagOf(d) === tag);
}

/** Opens a repository's blob; null when the repository does not hold it. */
async function openRepoBlob(ctx: StoreContext, repo: string, digest: string) {
  const { algorithm, hex } = parseDigest(digest);
  const dir = await ctx.layout.resolveRepoBlobDir(repo, algorithm);
  if (dir === null) return null;
  try {
    return await open(join(dir, hex), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    // ELOOP: the final component is a symlink, which the store never creates.
    if (isCode(err, "ENOENT") || isCode(err, "ELOOP")) return null;
    throw err;
  }
}

/**
 * Verified manifest bytes per open store, by repository and digest, with the identity of the file
 * they were read from. The bytes were hashed when read, so they are never wrong; what a hit must
 * still notice is the file changing under them (rewritten in place: new ctime/mtime; replaced: new
 * inode; removed), after which it is read and hashed again and a corrupted file is refused. A hit
 * costs one lstat instead of open, fstat, read, close and a hash. For a manifest that the
 * repository's index.json lists (checked on every read by loadIndex, so a moved tag is seen at once)
 * the file must exist, since only unlisted manifests are removed (gc, deleteManifest rewrites the
 * index first): its lstat is done at most once per `VERIFIED_RECHECK_MS`. An unlisted one (pulled
 * by digest) is looked at on every read, so a manifest gc removed is not served.
 */
const verifiedBytes = new WeakMap<StoreContext, ByteBoundedMap>();
const VERIFIED_BYTES_BUDGET = 16 * 1024 * 1024;
const VERIFIED_RECHECK_MS = 1000;

interface VerifiedEntry {
  key: string;
  bytes: Buffer;
  checkedAt: number;
}

/** An LRU of buffers bounded by their total size. */
class ByteBoundedMap {
  #map = new Map<string, VerifiedEntry>();
  #total = 0;
  constructor(private readonly budget: number) {}
  get(name: string): VerifiedEntry | undefined {
    const v = this.#map.get(name);
    if (v !== undefined) {
      this.#map.delete(name);
      this.#map.set(name, v);
    }
    return v;
  }
  set(name: string, v: VerifiedEntry): void {
    if (v.bytes.byteLength > this.budget / 16) return;
    this.delete(name);
    this.#map.set(name, v);
    this.#total += v.bytes.byteLength;
    for (const [oldest, o] of this.#map) {
      if (this.#total <= this.budget) break;
      this.#map.delete(oldest);
      this.#total -= o.bytes.byteLength;
    }
  }
  delete(name: string): void {
    const o = this.#map.get(name);
    if (o === undefined) return;
    this.#map.delete(name);
    this.#total -= o.bytes.byteLength;
  }
}

function fileIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** The verified bytes of the repository's `digest` when its file has not changed since read. */
async function cachedManifestBytes(ctx: StoreContext, repo: string, digest: string, listed: boolean): Promise<Buffer | null> {
  const cache = verifiedBytes.get(ctx);
  const name = `${repo}\0${digest}`;
  const hit = cache?.get(name);
  if (hit === undefined) return null;
  const now = Date.now();
  if (listed && now - hit.checkedAt < VERIFIED_RECHECK_MS) return hit.bytes;
  const { algorithm, hex } = parseDigest(digest);
  const dir = await ctx.layout.resolveRepoBlobDir(repo, algorithm);
  let st: Stats | null = null;
  try {
    st = dir === null ? null : await lstat(join(dir, hex));
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
  if (st !== null && st.isFile() && fileIdentity(st) === hit.key) {
    hit.checkedAt = now;
    return hit.bytes;
  }
  cache!.delete(name);
  return null;
}

function rememberManifestBytes(ctx: StoreContext, repo: string, digest: string, st: Stats, bytes: Buffer): void {
  let cache = verifiedBytes.get(ctx);
  if (cache === undefined) verifiedBytes.set(ctx, (cache = new ByteBoundedMap(VERIFIED_BYTES_BUDGET)));
  cache.set(`${repo}\0${digest}`, { key: fileIdentity(st), bytes, checkedAt: Date.now() });
}

/** Bytes of the repository's blob `digest` if it is a plausible manifest, hashed; null when absent. */
async function readVerifiedManifestBytes(ctx: StoreContext, repo: string, digest: string, listed: boolean): Promise<Buffer | null> {
  const cached = await cachedManifestBytes(ctx, repo, digest, listed);
  if (cached !== null) return cached;
  const fh = await openRepoBlob(ctx, repo, digest);
  if (fh === null) return null;
  let bytes: Buffer;
  let st: Stats;
  try {
    st = await fh.stat();
    if (!st.isFile() || st.size > MAX_MANIFEST_BYTES) return null;
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  const { algorithm, hex } = parseDigest(digest);
  if (createHash(algorithm).update(bytes).digest("hex") !== hex) {
    throw new AppError("INTERNAL", "stored content does not match its digest; run the store verifier", {
      details: { repository: repo, digest },
    });
  }
  // Only a file that did not change while it was read: its identity then describes these bytes.
  if (bytes.byteLength === st.size) rememberManifestBytes(ctx, repo, digest, st, bytes);
  return bytes;
}

/**
 * Reads and parses a manifest the repository holds, re-hashing it whenever its file is not the
 * one last read and hashed, so a corrupted file is never served. Null when absent or when the
 * blob is not a manifest. `listed`: the caller just found `digest` in the repository's index.json.
 */
export async function readRepoManifest(
  ctx: StoreContext,
  repo: string,
  digest: string,
  declared?: string,
  listed = false,
): Promise<{ bytes: Buffer; parsed: ParsedManifest } | null> {
  const bytes = await readVerifiedManifestBytes(ctx, repo, digest, listed);
  if (bytes === null) return null;
  const cached = ctx.manifestCache.get(digest);
  if (cached !== undefined && (declared === undefined || cached.parsed.mediaType === declared)) {
    return { bytes, parsed: cached.parsed };
  }
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(bytes, declared);
  } catch {
    return null;
  }
  ctx.manifestCache.set(digest, { parsed, size: bytes.byteLength });
  return { bytes, parsed };
}

export async function getManifest(ctx: StoreContext, repo: string, reference: string): Promise<StoredManifest> {
  const byDigest = isDigest(reference);
  if (!byDigest) assertTag(reference);
  const index = await loadIndex(ctx, repo);
  if (index === null) throw notFound("repository", repo);
  let digest: string;
  if (byDigest) {
    digest = reference;
  } else {
    const entry = findTag(index, reference);
    if (entry === undefined) throw notFound("manifest", `${repo}:${reference}`);
    digest = entry.digest;
  }
  const listed = index.manifests.find((d) => d.digest === digest);
  const found = await readRepoManifest(ctx, repo, digest, listed?.mediaType, listed !== undefined);
  if (found === null) throw notFound("manifest", `${repo}@${digest}`);
  return { digest, mediaType: found.parsed.mediaType, bytes: found.bytes, size: found.bytes.byteLength };
}

export async function statBlob(ctx: StoreContext, repo: string, digest: string): Promise<{ size: number } | null> {
  const { algorithm, hex } = parseDigest(digest);
  const dir = await ctx.layout.resolveRepoBlobDir(repo, algorithm);
  if (dir === null) return null;
  try {
    const st = await lstat(join(dir, hex));
    return st.isFile() ? { size: st.size } : null;
  } catch (err) {
    if (isCode(err, "ENOENT")) return null;
    throw err;
  }
}

/**
 * Read size for blob streams. Node's default (64 KiB) costs one read and one socket write per
 * 64 KiB; serving a 256 MiB blob to 8 clients on 2 cores, 512 KiB chunks gave ~1.5× the throughput
 * of the default (bench/v2-serve.ts, BENCHMARKS.md "/v2 serving"). Smaller blobs get a buffer of
 * their own size, so this costs memory only per large blob in flight.
 */
const BLOB_READ_CHUNK = 512 * 1024;

/**
 * A stream of the blob, or of the inclusive range `start..end` (an end past the blob is clamped,
 * as HTTP does). The file is opened before returning, so a gc that unlinks it mid-stream does not
 * cut the stream short.
 */
export async function openBlob(ctx: StoreContext, repo: string, digest: string, range: ByteRange = {}): Promise<Readable> {
  const fh = await openRepoBlob(ctx, repo, digest);
  if (fh === null) throw notFound("blob", `${repo}@${digest}`);
  try {
    const { size } = await fh.stat();
    const start = range.start ?? 0;
    const end = Math.min(range.end ?? size - 1, size - 1);
    const ranged = range.start !== undefined || range.end !== undefined;
    if (ranged && (!Number.isSafeInteger(start) || start < 0 || start >= size || end < start)) {
      throw new AppError("RANGE_NOT_SATISFIABLE", "range is outside the blob", {
        details: { size, start: range.start, end: range.end },
      });
    }
    if (size === 0) return fh.createReadStream();
    return fh.createReadStream({ start, end, highWaterMark: BLOB_READ_CHUNK });
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export async function listTags(ctx: StoreContext, repo: string, page: Page = {}): Promise<string[]> {
  const index = await loadIndex(ctx, repo);
  if (index === null) throw notFound("repository", repo);
  const tags = new Set<string>();
  for (const d of index.manifests) {
    const tag = tagOf(d);
    if (tag !== undefined) tags.add(tag);
  }
  return paginate([...tags], page);
}

/** Every repository, found by walking `repos/` without following symlinks. */
export async function listRepositories(ctx: StoreContext, page: Page = {}): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue; // symlinks report false here: never followed
      if (e.name === LAYOUT_DIR) {
        const name = prefix.join("/");
        if (isValidRepoName(name) && (await exists(join(dir, e.name, "index.json")))) out.push(name);
      } else if (isValidRepoName(e.name)) {
        await walk(join(dir, e.name), [...prefix, e.name]);
      }
    }
  }
  await walk(ctx.layout.reposDir, []);
  return paginate(out, page);
}

export async function referrers(
  ctx: StoreContext,
  repo: string,
  digest: string,
  options: { artifactType?: string } = {},
): Promise<Descriptor[]> {
  parseDigest(digest);
  const index = await loadIndex(ctx, repo);
  if (index === null) throw notFound("repository", repo);
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  for (const root of index.manifests) {
    if (seen.has(root.digest)) continue;
    seen.add(root.digest);
    const found = await readRepoManifest(ctx, repo, root.digest, root.mediaType, true);
    if (found === null || found.parsed.subject?.digest !== digest) continue;
    const d = referrerDescriptor(root.digest, found.bytes.byteLength, found.parsed);
    if (options.artifactType === undefined || d.artifactType === options.artifactType) out.push(d);
  }
  return out;
}

/** Sum of sizes of the distinct files (inodes) under `dirs`. */
async function sumFiles(dirs: string[]): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isCode(err, "ENOENT")) continue;
      throw err;
    }
    for (const name of names) {
      try {
        const st = await lstat(join(dir, name));
        const id = `${st.dev}:${st.ino}`;
        if (!st.isFile() || seen.has(id)) continue;
        seen.add(id);
        total += st.size;
      } catch (err) {
        if (!isCode(err, "ENOENT")) throw err;
      }
    }
  }
  return total;
}

export async function repositorySize(ctx: StoreContext, repo: string): Promise<number> {
  const oci = await ctx.layout.resolveRepo(repo);
  if (oci === null) throw notFound("repository", repo);
  return sumFiles(Object.keys(DIGEST_ALGORITHMS).map((a) => join(oci, "blobs", a)));
}

export async function storeSize(ctx: StoreContext): Promise<number> {
  return sumFiles(Object.keys(DIGEST_ALGORITHMS).map((a) => join(ctx.layout.poolDir, a)));
}

function paginate(names: string[], page: Page): string[] {
  names.sort();
  let out = page.last === undefined ? names : names.filter((n) => n > (page.last as string));
  if (page.n !== undefined) {
    if (!Number.isSafeInteger(page.n) || page.n < 0) {
      throw new AppError("BAD_USER_INPUT", "page size must be a non-negative integer", { details: { n: page.n } });
    }
    out = out.slice(0, page.n);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function notFound(what: string, name: string): AppError {
  return new AppError("NOT_FOUND", `${what} not found`, { details: { [what]: name } });
}

