/**
 * Worker threads that copy a local file into the store's tmp, hash the copy and, if it matches, give
 * it its staging and pool names, off the JS thread.
 *
 * Why threads: sha256 runs at ~1.3–1.8 GB/s on one core (SHA-NI), so hashing on the event loop caps a local
 * import at one core however many the machine has. Each worker does one whole job with synchronous
 * calls (dedupe probe, copy_file_range via copyFileSync, read, hash, fdatasync, rename, link): no
 * libuv-pool hop per step, one message round trip per file (per few small files), and N workers
 * keep N cores busy.
 *
 * The pool starts lazily on the first job and its workers are unref'd whenever they are idle, so a
 * process that imported a file still exits on its own; `closeImportPool` ends them explicitly.
 * The worker's code is a plain CommonJS string (eval) so it runs unchanged under tsx, vitest and a
 * bundled Next server, none of which agree on how to load a .ts worker file.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

export interface ImportJob {
  /** File to copy into `tmp`. */
  source: string;
  /** Fresh path in the store's tmp; created exclusively. */
  tmp: string;
  /** Where the verified (and, with `sync`, flushed) copy is renamed to: its staging name. */
  staged: string;
  /**
   * The pool name. Tried first (link(pool, staged)): content the pool already holds is linked into
   * staging and `source` is not read at all. Otherwise the staged copy is linked to it (an
   * existing entry is kept).
   */
  pool: string;
  algorithm: string;
  /** Expected digest (hex) and size: only a copy that matches both is renamed to `staged`. */
  hex: string;
  /** Hashing stops once more than this many bytes were read (the caller reports the mismatch). */
  size: number;
  /** fdatasync the copy before it gets its staging name. */
  sync: boolean;
}

/**
 * `existing`: the pool held the content (linked into staging; its size). `adopted`: the copy
 * matched and is at `staged` and in the pool. Otherwise the copy did not match (`hex` of the
 * first `bytes` bytes, size + 1 when longer than expected) and no name of it is left.
 */
export type ImportResult = { existing: number } | { adopted: true } | { hex: string; bytes: number };

/**
 * Name changes for many blobs at once (a commit's links into the repository, a discard's unlinks),
 * done by a worker with synchronous calls: one message for the lot, where libuv's pool costs this
 * thread a request, a wake-up and a callback per call. `link` items are [pool, holder, dst] with
 * linkPreferPool's rules (links.ts); `unlink` ignores names already gone and, on another error,
 * still tries the rest before failing.
 */
export type FsBatch = { kind: "link"; items: Array<[pool: string, holder: string, dst: string]> } | { kind: "unlink"; paths: string[] };

/** Below this many names a batch is not worth a worker (nor starting the pool for it). */
export const FS_BATCH_MIN = 128;

/** Names per worker job: a few jobs for a thousand names, so two or more workers share them. */
const FS_BATCH_CHUNK = 256;

const CHUNK = 4 * 1024 * 1024;

/** Up to this size a file is read whole and written from that buffer, not copied in the kernel. */
const SMALL = 1024 * 1024;

/**
 * Workers that only flush, beyond SIZE: a big file's copy is flushed by another worker while its
 * own worker hashes it (see big() in the worker). Blocked in fdatasync, they use no CPU.
 */
const FLUSH_WORKERS = 4;

// Big files: copy_file_range, then hash the copy (re-read from the page cache) in CHUNK reads.
// Small files: read the source once into memory, hash that buffer, write that same buffer: what is
// stored is exactly what was hashed, and it takes 7 syscalls instead of copyFile's 7 plus 5 to
// re-open, chmod, read and close the copy (per-file overhead is what small files cost).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
let flushNext = 0;
const flushWaiting = new Map();
// Asks the JS thread to have another worker flush \`path\` (fdatasync), and resolves with its
// error, if any, once that is done.
function flushElsewhere(path) {
  const id = ++flushNext;
  return new Promise((resolve) => {
    flushWaiting.set(id, resolve);
    parentPort.postMessage({ flush: path, id });
  });
}
function flushNow(path) {
  const fd = fs.openSync(path, "r");
  try { fs.fdatasyncSync(fd); } finally { fs.closeSync(fd); }
}
const { createHash } = require("node:crypto");
const fs = require("node:fs");
let buf;
// Reads until \`limit\` bytes or the end of the file. The limit is the size stat just reported, so
// a small file takes one read, not a second one that returns 0: a file that grew since is cut at
// that size, a shorter one stops early, and either way the digest check sees exactly what is
// written.
function readUpTo(fd, limit) {
  let bytes = 0;
  while (bytes < limit) {
    const n = fs.readSync(fd, buf, bytes, limit - bytes, null);
    if (n === 0) break;
    bytes += n;
  }
  return bytes;
}
// The source's size lets a file that is already too long fail before it is copied (the copy's
// own length is what counts); a FIFO or device would block a worker or never end.
function sourceSize(job) {
  const st = fs.statSync(job.source);
  if (!st.isFile()) throw Object.assign(new Error(job.source + " is not a regular file"), { code: "EINVAL" });
  return st.size;
}
function small(job) {
  const size = sourceSize(job);
  if (size > job.size) return { hex: "", bytes: job.size + 1 };
  const src = fs.openSync(job.source, "r");
  let bytes;
  try { bytes = readUpTo(src, size); } finally { fs.closeSync(src); }
  const hex = createHash(job.algorithm).update(buf.subarray(0, bytes)).digest("hex");
  if (bytes !== job.size || hex !== job.hex) return { hex, bytes };
  const fd = fs.openSync(job.tmp, "wx", 0o644);
  try {
    let off = 0;
    while (off < bytes) off += fs.writeSync(fd, buf, off, bytes - off);
    if (job.sync) fs.fdatasyncSync(fd);
  } finally { fs.closeSync(fd); }
  return { hex, bytes };
}
async function big(job) {
  if (sourceSize(job) > job.size) return { hex: "", bytes: job.size + 1 };
  fs.copyFileSync(job.source, job.tmp, fs.constants.COPYFILE_EXCL);
  const fd = fs.openSync(job.tmp, "r");
  let flushed;
  try {
    // copy_file_range copied the source's mode; store files are 0644 like every other write.
    fs.fchmodSync(fd, 0o644);
    // fsync mode: another worker flushes the copy now, and it goes to disk while this thread
    // hashes it from the page cache; the answer waits for both. Not libuv's pool: its 4 threads
    // serve every other fs call of the process, and a flush holds one for as long as the disk
    // takes.
    if (job.sync) flushed = flushElsewhere(job.tmp);
    const hash = createHash(job.algorithm);
    let bytes = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const take = Math.min(n, job.size + 1 - bytes);
      hash.update(buf.subarray(0, take));
      bytes += take;
      if (bytes > job.size) break;
    }
    const err = await flushed;
    if (err) throw Object.assign(new Error(err.message), err);
    return { hex: hash.digest("hex"), bytes };
  } finally {
    await flushed;
    fs.closeSync(fd);
  }
}
function unlinkQuietly(path) {
  try { fs.unlinkSync(path); } catch {}
}
// Returns true when dst now names src's inode (made here, or already there: same name, same
// verified content); false when src does not exist.
function linkIfPresent(src, dst) {
  try { fs.linkSync(src, dst); return true; } catch (err) {
    if (err.code === "EEXIST") return true;
    if (err.code === "ENOENT") return false;
    throw err;
  }
}
// The whole import of one file, so the JS thread gets one message per file and both cores do the
// per-file metadata work too: dedupe probe, copy + hash (+ flush), then, only for a copy that
// matched, rename into staging and link into the pool, in the order staging.ts's adopt() uses.
async function importFile(job) {
  if (linkIfPresent(job.pool, job.staged)) return { existing: fs.statSync(job.staged).size };
  let r;
  try {
    r = job.size < ${SMALL} ? small(job) : await big(job);
  } catch (err) {
    unlinkQuietly(job.tmp);
    throw err;
  }
  if (r.bytes !== job.size || r.hex !== job.hex) {
    unlinkQuietly(job.tmp);
    return r;
  }
  try { fs.renameSync(job.tmp, job.staged); } catch (err) {
    unlinkQuietly(job.tmp);
    throw err;
  }
  linkOrExisting(job.staged, job.pool);
  return { adopted: true };
}
function linkOrExisting(src, dst) {
  try { fs.linkSync(src, dst); } catch (err) {
    if (err.code !== "EEXIST") throw err;
  }
}
// links.ts's linkPreferPool, synchronously.
function linkPreferPool(pool, holder, dst) {
  if (linkIfPresent(pool, dst)) return;
  linkOrExisting(holder, pool);
  linkOrExisting(holder, dst);
}
function unlinkAll(paths) {
  let failed;
  for (const path of paths) {
    try { fs.unlinkSync(path); } catch (err) {
      if (err.code !== "ENOENT") failed ??= err;
    }
  }
  if (failed) throw failed;
}
function run(job) {
  if (job.kind === "flush") {
    flushNow(job.path);
    return null;
  }
  if (job.kind === "link") {
    for (const [pool, holder, dst] of job.items) linkPreferPool(pool, holder, dst);
    return null;
  }
  if (job.kind === "unlink") {
    unlinkAll(job.paths);
    return null;
  }
  buf ??= Buffer.allocUnsafe(${CHUNK});
  return importFile(job);
}
// A message is a list of jobs (several small files at once): done one after the other, answered
// together in one message.
parentPort.on("message", async (jobs) => {
  if (!Array.isArray(jobs)) {
    // The answer to flushElsewhere().
    const done = flushWaiting.get(jobs.id);
    flushWaiting.delete(jobs.id);
    done?.(jobs.error);
    return;
  }
  const replies = [];
  for (const job of jobs) {
    try {
      replies.push({ result: await run(job) });
    } catch (err) {
      replies.push({ error: { message: String(err && err.message), code: err && err.code, syscall: err && err.syscall } });
    }
  }
  parentPort.postMessage(replies);
});
`;

type Job = ({ kind: "import" } & ImportJob) | FsBatch | { kind: "flush"; path: string };

interface Pending {
  job: Job;
  resolve: (r: unknown) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** The jobs of the message the worker is on, in order. */
  current?: Pending[];
}

type WorkerError = { message: string; code?: string; syscall?: string };
type Reply = { result: unknown } | { error: WorkerError };
/** A big-file job asking for its copy to be flushed by another worker (flushElsewhere). */
type FlushRequest = { flush: string; id: number };

/**
 * More workers than cores, on purpose. The jobs are CPU-bound (kernel copy + sha256) and uneven:
 * with one worker per core, 4 big files on 3 workers would leave one file hashing alone at the end
 * while a core idles; with a worker per job the kernel shares the cores and all finish together.
 * The spare workers also keep small files moving while big ones hash, and cover workers blocked in
 * fdatasync. Idle workers cost a thread and an isolate, not CPU.
 */
const SIZE = Math.min(16, availableParallelism() * 2 + 2);

/**
 * At most this many small-file jobs per message. Each message costs both threads a wake-up
 * (eventfd write, epoll, the callback): a thousand small files were ~4.5 such wake-ups each.
 */
const MAX_JOBS_PER_MESSAGE = 8;

const slots: Slot[] = [];
const queue: Pending[] = [];
let dispatchQueued = false;

export function runImportJob(job: ImportJob): Promise<ImportResult> {
  return run({ kind: "import", ...job }) as Promise<ImportResult>;
}

/** Runs a batch in the workers, FS_BATCH_CHUNK names per job, the jobs side by side. */
export async function runFsBatch(batch: FsBatch): Promise<void> {
  const jobs: FsBatch[] = [];
  if (batch.kind === "link") {
    for (let i = 0; i < batch.items.length; i += FS_BATCH_CHUNK) jobs.push({ kind: "link", items: batch.items.slice(i, i + FS_BATCH_CHUNK) });
  } else {
    for (let i = 0; i < batch.paths.length; i += FS_BATCH_CHUNK) jobs.push({ kind: "unlink", paths: batch.paths.slice(i, i + FS_BATCH_CHUNK) });
  }
  // allSettled: every job has finished (no worker still changing names) before a failure is thrown.
  const results = await Promise.allSettled(jobs.map(run));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

function run(job: Job): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // A flush is waited for by a worker that is busy meanwhile: it goes first.
    if (job.kind === "flush") queue.unshift({ job, resolve, reject });
    else queue.push({ job, resolve, reject });
    // Dispatched once the current callbacks are done: the jobs that the answers of the last
    // message unblocked (an importer's next files) then go out together.
    if (!dispatchQueued) {
      dispatchQueued = true;
      setImmediate(() => {
        dispatchQueued = false;
        dispatch();
      });
    }
  });
}

/** Ends the workers (they are unref'd when idle, so this is only needed to free them early). */
export async function closeImportPool(): Promise<void> {
  const all = slots.splice(0);
  for (const p of queue.splice(0)) p.reject(new Error("import pool closed"));
  await Promise.all(all.map((s) => s.worker.terminate()));
}

function dispatch(): void {
  while (queue.length > 0) {
    const idle = slots.filter((s) => s.current === undefined);
    // At most SIZE workers compute; flushes may use FLUSH_WORKERS more, so a big file's flush
    // never waits for a worker that is itself waiting for a flush.
    const head = queue[0] as Pending;
    const flush = head.job.kind === "flush";
    const computing = slots.filter((s) => s.current !== undefined && s.current[0]?.job.kind !== "flush").length;
    if (!flush && computing >= SIZE) return;
    const slot = idle[0] ?? (slots.length < SIZE + (flush ? FLUSH_WORKERS : 0) ? spawn() : undefined);
    if (slot === undefined) return;
    // The queue is shared out among every worker that could start now, MAX_JOBS_PER_MESSAGE at
    // most each, so batching never leaves a worker idle while another has a backlog. Big files
    // and name batches go alone: they are long enough on their own.
    const free = Math.max(1, idle.length + SIZE - slots.length);
    const share = Math.min(MAX_JOBS_PER_MESSAGE, Math.ceil(queue.length / free));
    const take: Pending[] = [queue.shift() as Pending];
    while (isSmall(take[0]?.job) && take.length < share && isSmall(queue[0]?.job)) take.push(queue.shift() as Pending);
    slot.current = take;
    slot.worker.ref();
    slot.worker.postMessage(take.map((p) => p.job));
  }
}

function isSmall(job: Job | undefined): boolean {
  return job?.kind === "import" && job.size < SMALL;
}

function spawn(): Slot {
  const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }) };
  slots.push(slot);
  slot.worker.on("message", (replies: Reply[] | FlushRequest) => {
    if (!Array.isArray(replies)) {
      const { id } = replies;
      const answer = (error?: WorkerError) => slot.worker.postMessage({ id, error });
      run({ kind: "flush", path: replies.flush }).then(
        () => answer(),
        (err: unknown) => answer(workerError(err)),
      );
      return;
    }
    const jobs = slot.current ?? [];
    slot.current = undefined;
    slot.worker.unref();
    jobs.forEach((p, i) => {
      const reply = replies[i];
      if (reply === undefined) p.reject(new Error("import worker gave no answer"));
      else if ("error" in reply) p.reject(Object.assign(new Error(reply.error.message), reply.error));
      else p.resolve(reply.result);
    });
    dispatch();
  });
  // A worker that dies (out of memory, terminate) fails its job; the next job spawns a new one.
  const drop = (err: unknown) => {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    const jobs = slot.current ?? [];
    slot.current = undefined;
    for (const p of jobs) p.reject(err);
    dispatch();
  };
  slot.worker.on("error", drop);
  slot.worker.on("exit", (code) => drop(new Error(`import worker exited with code ${code}`)));
  return slot;
}

function workerError(err: unknown): WorkerError {
  const e = err as { message?: unknown; code?: unknown; syscall?: unknown };
  return { message: String(e?.message), code: typeof e?.code === "string" ? e.code : undefined, syscall: typeof e?.syscall === "string" ? e.syscall : undefined };
}
