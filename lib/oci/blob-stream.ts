/**
 * A blob as a Node Readable that verifies while it flows: bytes are hashed and counted on the way
 * through, more bytes than expected fail at once, and at the end a wrong size or digest makes the
 * stream error (DIGEST_MISMATCH / SIZE_MISMATCH) instead of ending. Callers write to a temporary
 * file and rename only after 'end', so a bad blob never becomes visible.
 *
 * A dropped connection or body timeout mid-blob resumes with `Range: bytes=<received>-` (up to
 * `maxResumes` times), so a 1 GiB layer is not restarted from zero. A server that ignores Range
 * and answers 200 is handled by skipping what we already have.
 */
import { Readable } from "node:stream";
import { hasherFor } from "./digest";
import { errorFromTransport, isOciError, OciError } from "./errors";
import { backoffDelay, sleep, type RetryPolicy } from "./retry";
import { header, type OciResponse } from "./transport";

/** A verifying blob stream; `size` is the expected size when known. */
export interface BlobStream extends Readable {
  readonly digest: string;
  readonly size: number | undefined;
  /** How many times the download was resumed with Range. */
  readonly resumes: number;
}

export interface BlobStreamInit {
  digest: string;
  expectedSize: number | undefined;
  first: OciResponse;
  /** Re-requests the blob from `offset` (sends `Range`). */
  reopen: (offset: number) => Promise<OciResponse>;
  retry: RetryPolicy;
  what: string;
  signal?: AbortSignal;
  /** Told before each resume (task history). */
  onResume?: (err: OciError, delayMs: number, resume: number) => void;
  /**
   * False when the consumer hashes the bytes itself (the store does, while writing): sizes are
   * still checked here, and a second sha256 of every byte is the main cost of a sync on small
   * machines. Default true.
   */
  verifyDigest?: boolean;
  /** Told the size of every chunk as it passes (progress counters without another stream). */
  onChunk?: (bytes: number) => void;
}

function contentRangeStart(value: string | undefined): number | undefined {
  const m = value ? /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(value.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/** Wraps the first blob response in a verifying, resuming Readable. */
export function verifiedBlobStream(init: BlobStreamInit): BlobStream {
  const { digest, what } = init;
  const lengthHeader = header(init.first.headers, "content-length");
  const announced = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (init.expectedSize !== undefined && announced !== undefined && announced !== init.expectedSize) {
    init.first.body.on("error", () => {});
    init.first.body.destroy();
    throw new OciError("SIZE_MISMATCH", `${what}: registry announces ${announced} bytes, expected ${init.expectedSize}`);
  }
  const expected = init.expectedSize ?? announced;
  const state = { resumes: 0 };

  async function* flow(): AsyncGenerator<Buffer> {
    const hash = init.verifyDigest === false ? null : hasherFor(digest).hash;
    let res = init.first;
    let received = 0;
    let skip = 0;
    for (;;) {
      try {
        for await (const chunk of res.body) {
          let buf = chunk as Buffer;
          if (skip > 0) {
            if (buf.length <= skip) {
              skip -= buf.length;
              continue;
            }
            buf = buf.subarray(skip);
            skip = 0;
          }
          received += buf.length;
          if (expected !== undefined && received > expected) {
            throw new OciError("SIZE_MISMATCH", `${what}: registry sent more than the expected ${expected} bytes`);
          }
          hash?.update(buf);
          init.onChunk?.(buf.length);
          yield buf;
        }
        break;
      } catch (raw) {
        res.body.destroy();
        const err = isOciError(raw) ? raw : errorFromTransport(raw, what);
        if (!err.retryable || state.resumes >= init.retry.maxRetries) throw err;
        const delay = backoffDelay(init.retry, state.resumes);
        init.onResume?.(err, delay, state.resumes + 1);
        await sleep(delay, init.signal);
        state.resumes++;
        res = await init.reopen(received);
        if (res.status === 206) {
          const start = contentRangeStart(header(res.headers, "content-range"));
          if (start !== received) {
            res.body.destroy();
            throw new OciError("INVALID_RESPONSE", `${what}: resumed download starts at byte ${start ?? "?"}, expected ${received}`);
          }
        } else {
          skip = received; // the server ignored Range: drop what we already have
        }
      }
    }
    if (expected !== undefined && received !== expected) {
      throw new OciError("SIZE_MISMATCH", `${what}: registry sent ${received} bytes, expected ${expected}`);
    }
    if (!hash) return;
    const actual = `${digest.slice(0, digest.indexOf(":"))}:${hash.digest("hex")}`;
    if (actual !== digest) {
      throw new OciError("DIGEST_MISMATCH", `${what}: blob bytes hash to ${actual}, not ${digest}`);
    }
  }

  const stream = Readable.from(flow(), { objectMode: false, highWaterMark: 256 * 1024 }) as BlobStream;
  Object.defineProperties(stream, {
    digest: { value: digest, enumerable: true },
    size: { value: expected, enumerable: true },
    resumes: { get: () => state.resumes, enumerable: true },
  });
  return stream;
}
