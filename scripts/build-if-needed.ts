import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, type Dirent } from "node:fs";
import path from "node:path";

const SOURCE_DIRS = ["app", "graphql", "lib", "public"];
const SOURCE_FILES = ["next.config.ts", "package.json", "tsconfig.json"];

const LOCK_STALE_MS = 15 * 60_000;

/**
 * Runs `next build` when there is no build yet or a source file is newer than it, so that
 * `npm start` alone works on a fresh clone and after a `git pull`. Several Ferry processes may
 * start at once from one checkout: a lock directory makes one of them build while the others
 * wait, then find the build fresh.
 */
export async function ensureBuilt(root: string, say: (msg: string) => void): Promise<void> {
  if (isFresh(root)) return;
  const lock = path.join(root, ".next-build.lock");
  await acquire(lock);
  try {
    if (!isFresh(root)) build(root, say);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function isFresh(root: string): boolean {
  const marker = path.join(root, ".next", "BUILD_ID");
  const builtAt = existsSync(marker) ? statSync(marker).mtimeMs : 0;
  const newest = Math.max(
    ...SOURCE_FILES.map((f) => mtime(path.join(root, f))),
    ...SOURCE_DIRS.map((d) => newestIn(path.join(root, d))),
  );
  return builtAt > 0 && newest <= builtAt;
}

async function acquire(lock: string): Promise<void> {
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // A builder that died leaves its lock behind; past a generous age it is taken over.
      if (Date.now() - mtime(lock) > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function build(root: string, say: (msg: string) => void): void {
  const builtAt = mtime(path.join(root, ".next", "BUILD_ID"));
  say(builtAt ? "sources changed since the last build; rebuilding the dashboard" : "building the dashboard (first start)");
  const r = spawnSync(process.execPath, [require_next_bin(root), "build"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  if (r.status !== 0) throw new Error(`next build failed (exit ${r.status})`);
}

function require_next_bin(root: string): string {
  return path.join(root, "node_modules", "next", "dist", "bin", "next");
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function newestIn(dir: string): number {
  let newest = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.name === "generated" || e.name === "node_modules") continue;
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestIn(p) : mtime(p));
  }
  return newest;
}
