/**
 * verifyStore: walks the whole store and re-hashes every blob and manifest.
 * - corrupt: a file whose content does not hash to its name (or is not a regular file);
 * - missing: a manifest, config or layer some repository's index.json reaches but the repository
 *   does not hold;
 * - invalid: unreadable index.json, unexpected names;
 * - unreferenced: held but reachable from nothing (harmless; gc's work, not an error).
 * Content shared by hard links is hashed once per inode. Read-only: it never repairs (it takes
 * each repository's lock briefly, for a consistent snapshot).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { StoreContext } from "./context";
import { isCode } from "./layout";
import { DIGEST_ALGORITHMS, type DigestAlgorithm } from "./names";
import { readIndexFile } from "./oci-index";
import { reachableFrom } from "./reachability";
import { withLock } from "./lock";
import { listRepositories } from "./reads";
import type { VerifyProblem, VerifyReport } from "./types";

export async function verifyStore(ctx: StoreContext): Promise<VerifyReport> {
  const report: VerifyReport = {
    ok: true,
    blobsChecked: 0,
    bytesChecked: 0,
    repositories: 0,
    corrupt: [],
    missing: [],
    invalid: [],
    unreferenced: [],
  };
  // Result of hashing each inode ("dev:ino" → ok), so shared content is read once.
  const hashed = new Map<string, boolean>();

  /** Checks every file in `<dir>/<alg>/`; returns the digests of the good ones with their link count. */
  async function checkDir(
    dir: string,
    repo: string | undefined,
    listed?: Map<DigestAlgorithm, string[]>,
  ): Promise<Map<string, number>> {
    const good = new Map<string, number>();
    for (const alg of Object.keys(DIGEST_ALGORITHMS) as DigestAlgorithm[]) {
      const algDir = join(dir, alg);
      for (const name of listed?.get(alg) ?? (await names(algDir))) {
        const path = join(algDir, name);
        const digest = `${alg}:${name}`;
        const base = { path, digest, ...(repo === undefined ? {} : { repo }) };
        if (!new RegExp(`^[a-f0-9]{${DIGEST_ALGORITHMS[alg]}}$`).test(name)) {
          report.invalid.push({ kind: "invalid", ...base, detail: "file name is not a digest" });
          continue;
        }
        const st = await lstat(path).catch(() => null);
        if (st === null) continue; // removed while we walked (gc)
        if (!st.isFile()) {
          report.corrupt.push({ kind: "corrupt", ...base, detail: "not a regular file" });
          continue;
        }
        const id = `${st.dev}:${st.ino}`;
        let ok = hashed.get(id);
        if (ok === undefined) {
          const actual = await hashFile(path, alg).catch(() => null);
          ok = actual === name;
          hashed.set(id, ok);
          report.blobsChecked++;
          report.bytesChecked += st.size;
          if (!ok) {
            report.corrupt.push({
              kind: "corrupt",
              ...base,
              detail: actual === null ? "unreadable" : `content hashes to ${alg}:${actual}`,
            });
          }
        } else if (!ok) {
          report.corrupt.push({ kind: "corrupt", ...base, detail: "shares a corrupt inode" });
        }
        if (ok) good.set(digest, st.nlink);
      }
    }
    return good;
  }

  const pool = await checkDir(ctx.layout.poolDir, undefined);
  for (const [digest, nlink] of pool) if (nlink === 1) report.unreferenced.push({ repo: null, digest });

  for (const repo of await listRepositories(ctx)) {
    report.repositories++;
    const oci = await ctx.layout.resolveRepo(repo).catch(() => null);
    if (oci === null) continue;
    // A consistent snapshot of index, reachability and file list, taken under the repository
    // lock so a concurrent commit or delete cannot produce false "missing" reports; the slow
    // part, hashing, runs after the lock is released.
    let snap;
    try {
      snap = await withLock(
        ctx.layout.repoLockPath(repo),
        async () => {
          const index = await readIndexFile(join(oci, "index.json"));
          if (index === null) return null;
          const listed = new Map<DigestAlgorithm, string[]>();
          for (const alg of Object.keys(DIGEST_ALGORITHMS) as DigestAlgorithm[]) {
            listed.set(alg, await names(join(oci, "blobs", alg)));
          }
          return { listed, ...(await reachableFrom(ctx, repo, index)) };
        },
        ctx.lock,
      );
    } catch (err) {
      report.invalid.push({ kind: "invalid", repo, path: join(oci, "index.json"), detail: String(err) });
      continue;
    }
    if (snap === null) continue;
    const { reachable, missingManifests, blobRefs, listed } = snap;
    const held = await checkDir(join(oci, "blobs"), repo, listed);
    const corruptHere = new Set(report.corrupt.filter((p) => p.repo === repo).map((p) => p.digest));
    const missing = (digest: string, referencedBy: string): VerifyProblem => ({
      kind: "missing",
      repo,
      digest,
      path: join(oci, "blobs", ...digest.split(":")),
      detail: `referenced by ${referencedBy}`,
    });
    const reported = new Set(corruptHere);
    for (const m of missingManifests) {
      if (!reported.has(m.digest)) report.missing.push(missing(m.digest, m.referencedBy));
      reported.add(m.digest);
    }
    for (const b of blobRefs) {
      if (!held.has(b.digest) && !reported.has(b.digest)) report.missing.push(missing(b.digest, b.referencedBy));
      reported.add(b.digest);
    }
    for (const digest of held.keys()) if (!reachable.has(digest)) report.unreferenced.push({ repo, digest });
  }

  report.ok = report.corrupt.length === 0 && report.missing.length === 0 && report.invalid.length === 0;
  return report;
}

async function hashFile(path: string, alg: DigestAlgorithm): Promise<string> {
  const hash = createHash(alg);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isCode(err, "ENOENT")) return [];
    throw err;
  }
}
