/**
 * Start-up cleanup of what crashed writers left behind. Temp files and staging names are named
 * after their owner (layout.ts `ownedName`), so an entry is removed when its owner is provably
 * gone (same host: dead pid or earlier boot) or, for owners on other hosts sharing the store,
 * when it is older than `foreignMaxAgeMs`. Live writers in other processes are left alone, which
 * is why this is safe to run while other Ferry processes work on the same store. Nothing here is
 * ever visible to reads, so leftovers never block them; this only reclaims space.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { StoreContext } from "./context";
import { isCode, ownerState, parseOwnedName } from "./layout";
import { cleanupBrokenLocks } from "./lock";
import type { RecoveryReport } from "./types";

export const DEFAULT_FOREIGN_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export async function recoverStore(ctx: StoreContext, foreignMaxAgeMs = DEFAULT_FOREIGN_MAX_AGE_MS): Promise<RecoveryReport> {
  return {
    tmpRemoved: await sweepOwned(ctx.layout.tmpDir, foreignMaxAgeMs),
    stagingRemoved: await sweepOwned(ctx.layout.stagingDir, foreignMaxAgeMs),
    brokenLocksRemoved: await cleanupBrokenLocks(ctx.layout.locksDir),
  };
}

async function sweepOwned(dir: string, foreignMaxAgeMs: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isCode(err, "ENOENT")) return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    const owner = parseOwnedName(name);
    let remove = owner !== null && ownerState(owner) === "gone";
    if (!remove && (owner === null || ownerState(owner) === "unknown")) {
      // ctime, not mtime: a staging name is a hard link to content that may be years old (its
      // mtime), while linking or renaming it in set its ctime.
      const st = await stat(path).catch(() => null);
      remove = st !== null && Date.now() - Math.max(st.mtimeMs, st.ctimeMs) > foreignMaxAgeMs;
    }
    if (remove) {
      await rm(path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
