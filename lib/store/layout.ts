/**
 * Where everything lives on disk.
 *
 * ```
 * <root>/blobs/<alg>/<hex>                    shared pool: one inode per distinct content
 * <root>/repos/<repo...>/_oci/oci-layout      one OCI image layout per repository
 * <root>/repos/<repo...>/_oci/index.json        tags and root manifests
 * <root>/repos/<repo...>/_oci/blobs/<alg>/<hex> hard links into the pool (blobs and manifests)
 * <root>/staging/<owner>.<alg>-<hex>         images in flight (hard links too)
 * <root>/tmp/<owner>                          files being written, never under a final name
 * <root>/locks/<hash>.lock/                   cross-process locks (see lock.ts)
 * ```
 *
 * Why `_oci`: nested names are nested folders, and `a/blobs` or `a/index.json` are valid repository
 * names, so repository `a`'s own files would collide with its children. No name component can start
 * with `_`, so `_oci` never collides. Each `_oci` folder is a plain OCI layout other tools can read.
 *
 * `tmp` and `staging` sit inside the root so that every rename and link stays on one filesystem.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { lstat, mkdir, realpath, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { AppError } from "../errors";
import { fsyncDir, type Durability } from "./atomic-write";
import { assertRepoName, parseDigest } from "./names";

export const LAYOUT_DIR = "_oci";

/**
 * How long a path that passed the read fence is trusted without another realpath. realpath walks
 * every component (a readlink each) and was the largest CPU cost of a manifest GET; at hundreds of
 * pulls a second one check per path per second is enough. Only successes are remembered (a
 * repository appearing is seen at once), and planting a symlink needs write access to the store.
 */
const FENCE_TTL_MS = 1000;
const FENCE_CACHE_MAX = 10_000;

export class Layout {
  /** Paths that passed the fence, with the time they stop being trusted. */
  private readonly fenced = new Map<string, number>();
  /** Per `<alg>:<repo>`: identities of `_oci` and `_oci/blobs/<alg>` after a checked walk. */
  private readonly verifiedDirs = new Map<string, [string, string]>();

  /** `root` must already be a real path (no symlinks); openStore resolves it once. */
  constructor(readonly root: string) {}

  get poolDir(): string {
    return join(this.root, "blobs");
  }
  get reposDir(): string {
    return join(this.root, "repos");
  }
  get stagingDir(): string {
    return join(this.root, "staging");
  }
  get tmpDir(): string {
    return join(this.root, "tmp");
  }
  get locksDir(): string {
    return join(this.root, "locks");
  }

  poolPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.poolDir, algorithm, hex);
  }

  /** The folder of repository `repo` (validated). */
  repoDir(repo: string): string {
    assertRepoName(repo);
    return join(this.reposDir, ...repo.split("/"));
  }
  ociDir(repo: string): string {
    return join(this.repoDir(repo), LAYOUT_DIR);
  }
  indexPath(repo: string): string {
    return join(this.ociDir(repo), "index.json");
  }
  repoBlobPath(repo: string, digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.ociDir(repo), "blobs", algorithm, hex);
  }
  repoLockPath(repo: string): string {
    assertRepoName(repo);
    return join(this.locksDir, `repo-${createHash("sha256").update(repo).digest("hex").slice(0, 32)}.lock`);
  }

  /**
   * Second traversal fence, for reads: the repository's `_oci` folder must resolve to exactly the
   * path its name spells. A symlink planted anywhere on the way (by another tool, or an attacker
   * with write access to the root) changes the real path and is refused, so reads never follow it.
   * Returns null when the repository does not exist.
   */
  async resolveRepo(repo: string): Promise<string | null> {
    return this.resolveExact(repo, this.ociDir(repo));
  }

  /** Same fence for the folder holding a repository's blobs of one algorithm. */
  async resolveRepoBlobDir(repo: string, algorithm: string): Promise<string | null> {
    return this.resolveExact(repo, join(this.ociDir(repo), "blobs", algorithm));
  }

  private async resolveExact(repo: string, expected: string): Promise<string | null> {
    const now = Date.now();
    if ((this.fenced.get(expected) ?? 0) > now) return expected;
    let real: string;
    try {
      real = await realpath(expected);
    } catch (err) {
      if (isCode(err, "ENOENT") || isCode(err, "ENOTDIR")) return null;
      throw err;
    }
    if (real !== expected) {
      throw new AppError("BAD_USER_INPUT", "repository path escapes the store root", {
        details: { repository: repo },
      });
    }
    if (this.fenced.size >= FENCE_CACHE_MAX) this.fenced.clear();
    this.fenced.set(expected, now + FENCE_TTL_MS);
    return real;
  }

  /**
   * For writes: creates the repository's folders one component at a time and refuses any component
   * that already exists as something other than a real directory. `mkdir -p` would follow a planted
   * symlink and create folders outside the root.
   *
   * Walking every component costs an lstat each (twice that with a second algorithm) on every
   * commit. After one walk, the `_oci` folder's and the blobs folder's identity (device + inode)
   * is remembered, and later calls only `stat` those two paths and compare. That keeps the fence:
   * writes go into `_oci/` (index.json, oci-layout) and `_oci/blobs/<alg>/` (links), and `stat`
   * resolves the whole path, so if any component has since been replaced (by a symlink or
   * anything else) the path leads to another inode, the identity differs, and the full walk runs
   * again — and refuses the symlink. A symlink that leads back to the very same folder would pass,
   * which is harmless: the writes land where the walk verified. Folders someone else created are
   * walked once like our own; what is remembered is never "exists", only "is this same inode".
   * `walked` tells the caller the folders were (re)checked, e.g. to look for `oci-layout` again.
   */
  async ensureRepoDirs(repo: string, algorithm: string, durability: Durability): Promise<{ oci: string; walked: boolean }> {
    assertRepoName(repo);
    const oci = this.ociDir(repo);
    const leaf = join(oci, "blobs", algorithm);
    const key = `${algorithm}:${repo}`;
    const known = this.verifiedDirs.get(key);
    if (known !== undefined && (await sameDirs([oci, leaf], known))) return { oci, walked: false };
    this.verifiedDirs.delete(key);
    const parts = [...repo.split("/"), LAYOUT_DIR, "blobs", algorithm];
    let cur = this.reposDir;
    const ids = new Map<string, string>();
    for (const part of parts) {
      const parent = cur;
      cur = join(cur, part);
      const { created, id } = await realDir(cur);
      ids.set(cur, id);
      // A new folder's own entry must be durable too, or a power loss could drop the repository.
      if (created && durability.fsync) await fsyncDir(parent);
    }
    if (this.verifiedDirs.size >= VERIFIED_DIRS_MAX) this.verifiedDirs.clear();
    this.verifiedDirs.set(key, [ids.get(oci) ?? "", ids.get(leaf) ?? ""]);
    return { oci, walked: true };
  }
}

const VERIFIED_DIRS_MAX = 10_000;

function dirId(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

/** True when every path resolves (following links) to the directory inode remembered for it. */
async function sameDirs(paths: string[], ids: string[]): Promise<boolean> {
  const found = await Promise.all(paths.map((p) => stat(p).catch(() => null)));
  return found.every((st, i) => st !== null && st.isDirectory() && dirId(st) === ids[i]);
}

/**
 * mkdir that refuses to traverse symlinks: the path must end up a real directory.
 * Returns true when it created the directory.
 */
export async function ensureRealDir(path: string): Promise<boolean> {
  return (await realDir(path)).created;
}

/** ensureRealDir, also returning the directory's identity (device + inode). */
async function realDir(path: string): Promise<{ created: boolean; id: string }> {
  // lstat first: the folder nearly always exists, and one lstat is cheaper than a failing mkdir
  // (a syscall plus an EEXIST error object) followed by the same lstat.
  const existing = await lstat(path).catch((err: unknown) => {
    if (isCode(err, "ENOENT")) return null;
    throw err;
  });
  if (existing) {
    if (!existing.isDirectory()) throw notRealDir(path);
    return { created: false, id: dirId(existing) };
  }
  let created = true;
  try {
    await mkdir(path);
  } catch (err) {
    if (!isCode(err, "EEXIST")) throw err;
    created = false;
  }
  const st = await lstat(path);
  if (!st.isDirectory()) throw notRealDir(path);
  return { created, id: dirId(st) };
}

function notRealDir(path: string): AppError {
  return new AppError("BAD_USER_INPUT", "store path is not a real directory", { details: { path } });
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Who owns a temp file, staging area or lock. Names carry the owner so that a later process can
 * tell whether the owner is gone (crashed) without a registry of owners:
 * - `host`: hostname plus pid namespace, so containers sharing a hostname are still told apart;
 * - `boot`: the kernel boot id, so after a reboot every old same-host owner is known dead even if
 *   its pid was reused.
 * Owners on other hosts cannot be probed; for those, callers fall back to an age limit.
 */
export interface OwnerId {
  host: string;
  boot: string;
  pid: number;
}

function short(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 12);
}

function readOr(fn: () => string, fallback: string): string {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

const SELF: OwnerId = {
  host: short(`${hostname()}|${readOr(() => readlinkSync("/proc/self/ns/pid"), "")}`),
  boot: short(readOr(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), "unknown-boot")),
  pid: process.pid,
};

export function self(): OwnerId {
  return { ...SELF, pid: process.pid };
}

/** A fresh file name that encodes its owner: `<host>~<boot>~<pid>~<unique>`. */
export function ownedName(): string {
  return `${SELF.host}~${SELF.boot}~${process.pid}~${UNIQUE_PREFIX}${(uniqueNext++).toString(16)}`;
}

/**
 * The last part of owned names: random once per process, then a counter. As unique as a fresh
 * random per name (within a process by the counter; a later process that reuses the pid draws
 * another prefix), without a random draw and a buffer per temp file and staging area.
 */
const UNIQUE_PREFIX = randomBytes(6).toString("hex");
let uniqueNext = 0;

export function parseOwnedName(name: string): OwnerId | null {
  const parts = name.split("~");
  if (parts.length !== 4) return null;
  const pid = Number(parts[2]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return { host: parts[0] ?? "", boot: parts[1] ?? "", pid };
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return isCode(err, "EPERM");
  }
}

/**
 * "gone": certainly dead (same host; other boot or pid not running). "alive": same host and
 * running. "unknown": another host.
 */
export function ownerState(owner: OwnerId): "gone" | "alive" | "unknown" {
  if (owner.host !== SELF.host) return "unknown";
  if (owner.boot !== SELF.boot) return "gone";
  return isPidAlive(owner.pid) ? "alive" : "gone";
}
