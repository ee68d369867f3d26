/**
 * lib/store commit throughput vs `cp` of the same files on the same disk.
 *
 *   npx tsx bench/store-commit.ts [--small 1000] [--small-kib 16] [--big 4] [--big-mib 256] [--runs 3]
 *     [--variants cp,cp+sync,file,file-nofsync,stream,stream-nofsync]
 *
 * Workload: N small blobs and M big blobs from local files, staged with their (known) digests and
 * committed as one image. Compared with `cp -r` of the same files into a fresh directory. Each
 * variant runs `--runs` times, alternating; the median is reported, with the CPU seconds (user +
 * sys, all threads; children for cp) of the median run. Sources stay in the page cache for all, so
 * this measures the write path: hashing, copying, fsync, links.
 * "file" stages with `writeBlobFromFile` (kernel copy, copy hashed in worker threads); "stream"
 * with `writeBlob(createReadStream(path))` (every byte through the JS thread).
 * "fsync" is the default durable mode; "nofsync" keeps the SIGKILL guarantees but not power-loss
 * ones (openStore({ fsync: false })); "cp + sync" is cp made equally durable.
 *
 * Between runs only the big files of a run's output are deleted (to free the space); the rest is
 * deleted at the end. On ext4 without a journal (this VM's disk) the inode allocator skips inodes
 * freed in the last 30 s (dirty_expire_centisecs), testing each one, so every file created after
 * a deletion of N files costs O(N) more: deleting 1,000 small files before the next variant made
 * its 1,000 creates cost up to 0.4 CPU-s more (cp of the small files: 0.09 s sys with nothing freed
 * recently, 0.20 s after one rm of 1,000 files, 0.52 s after three), whichever variant came next.
 * Wait 30 s between two bench invocations for the same reason.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { MEDIA_TYPES, openStore } from "../lib/store";

const { values } = parseArgs({
  options: {
    small: { type: "string", default: "1000" },
    "small-kib": { type: "string", default: "16" },
    big: { type: "string", default: "4" },
    "big-mib": { type: "string", default: "256" },
    runs: { type: "string", default: "3" },
    dir: { type: "string", default: tmpdir() },
    variants: { type: "string", default: "cp,cp+sync,file,file-nofsync,stream,stream-nofsync" },
  },
});
const SMALL = Number(values.small);
const SMALL_BYTES = Number(values["small-kib"]) * 1024;
const BIG = Number(values.big);
const BIG_BYTES = Number(values["big-mib"]) * 1024 * 1024;
const RUNS = Number(values.runs);

interface Src {
  path: string;
  digest: string;
  size: number;
}

async function makeSources(dir: string): Promise<Src[]> {
  const out: Src[] = [];
  await mkdir(dir, { recursive: true });
  const add = async (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    out.push({ path, size: bytes.length, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` });
  };
  for (let i = 0; i < SMALL; i++) await add(`small-${i}`, randomBytes(SMALL_BYTES));
  for (let i = 0; i < BIG; i++) {
    // Random 1 MiB pattern with a per-MiB counter: incompressible, cheap to generate.
    const buf = Buffer.allocUnsafe(BIG_BYTES);
    const base = randomBytes(1024 * 1024);
    for (let off = 0, n = 0; off < BIG_BYTES; off += base.length, n++) {
      base.copy(buf, off);
      buf.writeUInt32LE(n ^ (i << 20), off);
    }
    await add(`big-${i}`, buf);
  }
  return out;
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

interface Run {
  ms: number;
  /** user + sys CPU seconds */
  cpu: number;
}

async function storeRun(srcs: Src[], root: string, fsync: boolean, fromFile: boolean): Promise<Run> {
  const store = await openStore(root, { fsync });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const staging = await store.stage("bench/app");
  const small = srcs.filter((s) => s.size <= SMALL_BYTES);
  const big = srcs.filter((s) => s.size > SMALL_BYTES);
  const write = async (s: Src) => {
    if (fromFile) await staging.writeBlobFromFile(s.digest, s.size, s.path);
    else await staging.writeBlob(s.digest, s.size, createReadStream(s.path, { highWaterMark: Math.min(1024 * 1024, s.size + 1) }));
  };
  // Big and small side by side, as an importer staging a whole image would: the big ones keep the
  // hashing cores busy while the small ones are mostly per-file work on the JS thread.
  await Promise.all([pool(big, 4, write), pool(small, 16, write)]);
  const config = Buffer.from("{}");
  const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
  await staging.writeBlob(configDigest, config.length, Readable.from([config]));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: srcs.map((s) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: s.digest, size: s.size })),
    }),
  );
  const digest = await staging.writeManifest(manifest, { mediaType: MEDIA_TYPES.ociManifest });
  staging.tag("v1", digest);
  await store.commitAll("bench/app", staging);
  const ms = performance.now() - t0;
  const { user, system } = process.cpuUsage(cpu0);
  return { ms, cpu: (user + system) / 1e6 };
}

/** cp under /usr/bin/time for its CPU seconds (the wall clock is ours, as for the store). */
function cpRun(srcDir: string, dst: string, sync: boolean): Run {
  const t0 = performance.now();
  const cpu = timedCpu(["cp", "-r", srcDir, dst]) + (sync ? timedCpu(["sync"]) : 0);
  return { ms: performance.now() - t0, cpu };
}

function timedCpu(argv: string[]): number {
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S", ...argv], { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
  const [user, sys] = r.stderr.toString().trim().split(/\s+/).slice(-2).map(Number);
  return (user ?? 0) + (sys ?? 0);
}

/** Deletes the files of 1 MiB or more under `dir` (a handful of inodes: see the header). */
async function dropBigFiles(dir: string): Promise<void> {
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if ((await stat(path)).size >= 1024 * 1024) await unlink(path);
  }
}

const median = (xs: Run[]) => [...xs].sort((a, b) => a.ms - b.ms)[Math.floor(xs.length / 2)] as Run;

const VARIANTS: Record<string, (srcs: Src[], srcDir: string, dst: string) => Promise<Run>> = {
  cp: async (_, srcDir, dst) => cpRun(srcDir, dst, false),
  "cp+sync": async (_, srcDir, dst) => cpRun(srcDir, dst, true),
  file: (srcs, _, dst) => storeRun(srcs, dst, true, true),
  "file-nofsync": (srcs, _, dst) => storeRun(srcs, dst, false, true),
  stream: (srcs, _, dst) => storeRun(srcs, dst, true, false),
  "stream-nofsync": (srcs, _, dst) => storeRun(srcs, dst, false, false),
};

async function main(): Promise<void> {
  await mkdir(values.dir, { recursive: true });
  const work = await mkdtemp(join(values.dir, "store-commit-"));
  try {
    const srcDir = join(work, "src");
    const srcs = await makeSources(srcDir);
    const totalBytes = srcs.reduce((a, s) => a + s.size, 0);
    execFileSync("sync");
    // Warm the page cache for the sources so every variant reads them from memory.
    for (const s of srcs) await readFile(s.path).then(() => undefined);

    const names = values.variants.split(",").filter((n) => n in VARIANTS);
    const times: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const name of names) {
        const dst = join(work, `dst-${r}-${name.replace(/\W+/g, "_")}`);
        execFileSync("sync");
        times[name]?.push(await (VARIANTS[name] as (typeof VARIANTS)[string])(srcs, srcDir, dst));
        await dropBigFiles(dst);
      }
    }
    const cp = times.cp ? median(times.cp).ms : NaN;
    const cpSync = times["cp+sync"] ? median(times["cp+sync"]).ms : NaN;
    console.log(
      `workload: ${SMALL} x ${SMALL_BYTES / 1024} KiB + ${BIG} x ${BIG_BYTES / 1024 / 1024} MiB = ${(totalBytes / 2 ** 20).toFixed(0)} MiB, median of ${RUNS}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    );
    console.log("| variant | median ms | all runs ms | CPU s | MiB/s | speed vs cp | speed vs cp + sync |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const [name, xs] of Object.entries(times)) {
      const { ms, cpu } = median(xs);
      console.log(
        `| ${name} | ${ms.toFixed(0)} | ${xs.map((x) => x.ms.toFixed(0)).join(" / ")} | ${cpu.toFixed(2)} | ${(totalBytes / 2 ** 20 / (ms / 1000)).toFixed(0)} | ${((cp / ms) * 100).toFixed(0)}% | ${((cpSync / ms) * 100).toFixed(0)}% |`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
