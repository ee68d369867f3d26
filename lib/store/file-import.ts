/**
 * Bytes entering the store from a local file (an OCI layout or archive on the same host). A file of
 * 1 MiB or more is copied into `<root>/tmp` in the kernel (copy_file_range) and then the *copy* is
 * hashed: the source may change underneath, and only what the store holds has to match the digest.
 * A smaller one is read once and the buffer that was hashed is the one written. Either way the
 * work, and fdatasync in fsync mode, runs in a worker thread, so several files go through at once
 * on several cores (import-pool.ts). Same contract as writeVerifiedTemp: the returned temp file
 * is verified and flushed; on any failure it is removed.
 */
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Durability } from "./atomic-write";
import { runImportJob } from "./import-pool";
import { ownedName } from "./layout";
import { parseDigest } from "./names";
import { assertSize, mismatch, storeError } from "./write-errors";

/**
 * A body that is a local file. writeVerifiedTemp recognises it and takes the copy path below;
 * anything else that iterates it gets the file's bytes like any stream.
 */
export class LocalFile implements AsyncIterable<Uint8Array> {
  constructor(readonly path: string) {}
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return createReadStream(this.path)[Symbol.asyncIterator]();
  }
}

export async function copyVerifiedTemp(
  tmpDir: string,
  digest: string,
  size: number,
  source: string,
  durability: Durability,
): Promise<string> {
  const { algorithm, hex } = parseDigest(digest);
  assertSize(size);
  const tmp = join(tmpDir, ownedName());
  try {
    const got = await runImportJob({ source, tmp, algorithm, size, sync: durability.fsync });
    if (got.bytes > size) throw mismatch(digest, size, `more than ${size} bytes`);
    if (got.bytes !== size) throw mismatch(digest, size, `${got.bytes} bytes`);
    if (got.hex !== hex) throw mismatch(digest, size, `${algorithm}:${got.hex}`);
  } catch (err) {
    await rm(tmp, { force: true });
    throw storeError(err);
  }
  return tmp;
}
