/**
 * Bytes entering the store from a local file (an OCI layout or archive on the same host). A file of
 * 1 MiB or more is copied into `<root>/tmp` in the kernel (copy_file_range) and then the *copy* is
 * hashed: the source may change underneath, and only what the store holds has to match the digest.
 * A smaller one is read once and the buffer that was hashed is the one written. Either way the
 * work runs in a worker thread (import-pool.ts), so several files go through at once on several
 * cores, and so does what follows a match: fdatasync in fsync mode, the rename to the staging name
 * and the pool link. Same guarantees as writeVerifiedTemp + staging's adopt(): the copy gets a
 * name outside tmp only once it is verified and flushed; on any failure nothing of it is left.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Durability } from "./atomic-write";
import { runImportJob } from "./import-pool";
import { ownedName } from "./layout";
import { parseDigest } from "./names";
import { assertSize, mismatch, storeError } from "./write-errors";

export interface FileImport {
  tmpDir: string;
  digest: string;
  size: number;
  source: string;
  /** Staging name the verified copy gets (or that a pool entry is linked to). */
  staged: string;
  pool: string;
  durability: Durability;
}

/**
 * Puts `source`'s content at `staged` and in the pool. Returns the stored size when the pool
 * already held the digest (nothing was read; the caller checks the size), or null when the file
 * was copied and verified.
 */
export async function importFile(job: FileImport): Promise<number | null> {
  const { algorithm, hex } = parseDigest(job.digest);
  assertSize(job.size);
  const tmp = join(job.tmpDir, ownedName());
  const { digest, size } = job;
  try {
    const got = await runImportJob({
      source: job.source,
      tmp,
      staged: job.staged,
      pool: job.pool,
      algorithm,
      hex,
      size,
      sync: job.durability.fsync,
    });
    if ("existing" in got) return got.existing;
    if ("adopted" in got) return null;
    if (got.bytes > size) throw mismatch(digest, size, `more than ${size} bytes`);
    if (got.bytes !== size) throw mismatch(digest, size, `${got.bytes} bytes`);
    throw mismatch(digest, size, `${algorithm}:${got.hex}`);
  } catch (err) {
    // The worker removes its copy itself; this covers a worker that died in the middle.
    await rm(tmp, { force: true });
    throw storeError(err);
  }
}
