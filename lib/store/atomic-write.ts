/**
 * The only ways bytes enter the store (with file-import.ts for local files). All write into
 * `<root>/tmp` under a fresh owned name, hash what they wrote, check digest and size, flush, and
 * only then give the caller a path to link or rename into place. A crash at any point leaves at
 * most a file in `tmp`, which recovery removes: a half-written file never has a final name
 * (invariant 1).
 */
import { createHash } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { ownedName } from "./layout";
import { parseDigest } from "./names";
import { assertSize, mismatch, storeError } from "./write-errors";

export { storeError } from "./write-errors";

export type Body = Readable | AsyncIterable<Uint8Array | string>;

export interface Durability {
  /**
   * fsync file data and directories before anything refers to them. Turning it off keeps the
   * process-crash guarantees (the page cache survives SIGKILL) but not power-loss ones.
   */
  fsync: boolean;
}

/**
 * Streams `body` into a temp file, verifying it hashes to `digest` and is exactly `size` bytes.
 * Returns the temp path; the caller links it into place and removes it.
 */
export async function writeVerifiedTemp(
  tmpDir: string,
  digest: string,
  size: number,
  body: Body,
  durability: Durability,
): Promise<string> {
  const { algorithm, hex } = parseDigest(digest);
  assertSize(size);
  const tmp = join(tmpDir, ownedName());
  const fh = await open(tmp, "wx", 0o644).catch((err: unknown) => {
    throw storeError(err);
  });
  const hash = createHash(algorithm);
  let written = 0;
  try {
    // One write in flight while the next chunks are read and hashed: the write runs on the libuv
    // pool, hashing on this thread, so the two overlap instead of adding up. Chunks that arrive
    // while a write is in flight are gathered and go out together in one writev (a socket gives
    // 64 KiB at a time: one syscall and one pool round trip per chunk was most of the write
    // path's cost), up to WRITE_BATCH bytes so memory stays bounded when the disk is the slow side.
    let writing: Promise<void> | undefined;
    // A failed write (ENOSPC) is kept and thrown at the next chance: the hash covers the stream,
    // not the file, so a write error must never be skipped over.
    let writeFailed: { err: unknown } | undefined;
    let batch: Uint8Array[] = [];
    let batched = 0;
    const flush = () => {
      const chunks = batch;
      batch = [];
      batched = 0;
      writing = writeAllv(fh, chunks).then(
        () => {
          writing = undefined;
        },
        (err: unknown) => {
          writing = undefined;
          writeFailed ??= { err };
        },
      );
    };
    for await (const raw of body) {
      if (writeFailed) throw writeFailed.err;
      const chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
      written += chunk.byteLength;
      if (written > size) {
        throw mismatch(digest, size, `more than ${size} bytes`);
      }
      hash.update(chunk);
      batch.push(chunk);
      batched += chunk.byteLength;
      if (batched >= WRITE_BATCH && writing) await writing;
      if (!writing && !writeFailed) flush();
    }
    if (writing) await writing;
    if (batch.length > 0 && !writeFailed) flush();
    if (writing) await writing;
    if (writeFailed) throw writeFailed.err;
    if (written !== size) throw mismatch(digest, size, `${written} bytes`);
    const actual = hash.digest("hex");
    if (actual !== hex) throw mismatch(digest, size, `${algorithm}:${actual}`);
    if (durability.fsync) await fh.datasync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw storeError(err);
  }
  return tmp;
}

/** Same as writeVerifiedTemp for bytes already in memory (manifests, index.json). */
export async function writeBytesTemp(tmpDir: string, bytes: Uint8Array, durability: Durability): Promise<string> {
  const tmp = join(tmpDir, ownedName());
  const fh = await open(tmp, "wx", 0o644).catch((err: unknown) => {
    throw storeError(err);
  });
  try {
    await writeAll(fh, bytes);
    if (durability.fsync) await fh.datasync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw storeError(err);
  }
  return tmp;
}

/** Replaces `path` with `bytes` atomically: readers see the old file or the new one, never a mix. */
export async function replaceFileAtomic(
  tmpDir: string,
  path: string,
  bytes: Uint8Array,
  durability: Durability,
): Promise<void> {
  const tmp = await writeBytesTemp(tmpDir, bytes, durability);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw storeError(err);
  }
  if (durability.fsync) await fsyncDir(join(path, ".."));
}

/** Makes a directory's entries (new links, renames) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Bytes gathered for one writev while the previous write is still running. */
const WRITE_BATCH = 4 * 1024 * 1024;

/** writev of all `chunks`, continuing after short writes. */
async function writeAllv(fh: FileHandle, chunks: Uint8Array[]): Promise<void> {
  if (chunks.length === 1) return writeAll(fh, chunks[0]!);
  let rest = chunks;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest as NodeJS.ArrayBufferView[]);
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= rest[i]!.byteLength) n -= rest[i++]!.byteLength;
    rest = rest.slice(i);
    if (n > 0 && rest.length > 0) rest = [rest[0]!.subarray(n), ...rest.slice(1)];
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    off += bytesWritten;
  }
}
