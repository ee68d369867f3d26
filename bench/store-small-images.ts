/**
 * Per-image cost of lib/store's write path for small images, the way lib/sync uses it.
 *
 *   npx tsx bench/store-small-images.ts [--repos 40] [--tags 5] [--parallel 4] [--runs 3] [--fsync]
 *   npx tsx bench/store-small-images.ts --strace     (syscalls per image, from `strace -f -c`)
 *
 * Workload: `repos` × `tags` images, `parallel` repositories at a time, tags of one repository one
 * after the other (lib/sync's shape). Each image: stage, a shared 64 KiB base layer (in the pool
 * after the first image: linkExistingBlob), a unique 4 KiB layer and config (linkExistingBlob
 * misses, then writeBlob), the manifest, a tag, commitAll. Blobs are tiny on purpose: what is
 * measured is the per-image metadata work (staging, lock, folders, links, index.json), not bytes.
 *
 * Default: CPU ms (user + system of this process) and wall ms per image, median of `runs`, each run
 * into a fresh store. `--strace`: runs the workload twice in child processes under
 * `strace -f -c -e trace=file,desc` (once with the images, once with none) and prints the
 * difference per image by syscall; counts do not depend on load.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MEDIA_TYPES, openStore, type Store } from "../lib/store";

const { values } = parseArgs({
  options: {
    repos: { type: "string", default: "40" },
    tags: { type: "string", default: "5" },
    parallel: { type: "string", default: "4" },
    runs: { type: "string", default: "3" },
    fsync: { type: "boolean", default: false },
    strace: { type: "boolean", default: false },
    child: { type: "boolean", default: false },
    dir: { type: "string", default: tmpdir() },
  },
});
const REPOS = Number(values.repos);
const TAGS = Number(values.tags);
const PARALLEL = Number(values.parallel);

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const BASE = randomBytes(64 * 1024);

async function image(store: Store, repo: string, tag: string): Promise<void> {
  const staging = await store.stage(repo);
  const top = randomBytes(4096);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", id: randomBytes(8).toString("hex") }));
  const blobs = [BASE, top, config];
  for (const b of blobs) {
    if (await staging.linkExistingBlob(sha(b), b.length)) continue;
    await staging.writeBlob(sha(b), b.length, Readable.from([b]));
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: [BASE, top].map((b) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(b), size: b.length })),
    }),
  );
  const digest = await staging.writeManifest(manifest, { mediaType: MEDIA_TYPES.ociManifest, digest: sha(manifest) });
  staging.tag(tag, digest);
  await store.commitAll(repo, staging);
}

/** Runs the workload into a fresh store; returns CPU and wall ms for the images only. */
async function run(images: boolean): Promise<{ cpuMs: number; wallMs: number }> {
  const root = await mkdtemp(join(values.dir, "store-small-"));
  try {
    const store = await openStore(root, { fsync: values.fsync });
    const repos = images ? Array.from({ length: REPOS }, (_, i) => `bench/app-${i}`) : [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < repos.length) {
          const repo = repos[next++] as string;
          for (let t = 0; t < TAGS; t++) await image(store, repo, `v${t}`);
        }
      }),
    );
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs };
  } finally {
    // Under --strace the parent removes the store afterwards: its removal is not per-image work.
    if (!values.child) await rm(root, { recursive: true, force: true });
  }
}

/** `strace -c` table → calls per syscall. */
function parseStrace(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors,] syscall
    if (cols.length < 5 || !/^\d/.test(cols[0] ?? "") || cols.at(-1) === "total") continue;
    out.set(cols.at(-1) as string, Number(cols[3]));
  }
  return out;
}

async function straced(images: boolean): Promise<Map<string, number>> {
  const work = await mkdtemp(join(values.dir, "store-small-strace-"));
  const out = join(work, "strace.txt");
  const args = ["-f", "-c", "-e", "trace=file,desc", "-o", out, process.execPath, ...process.execArgv];
  args.push(fileURLToPath(import.meta.url), "--child", "--repos", images ? String(REPOS) : "0", "--tags", String(TAGS));
  args.push("--parallel", String(PARALLEL), "--dir", work, ...(values.fsync ? ["--fsync"] : []));
  const r = spawnSync("strace", args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`strace child failed (${r.status})`);
  const counts = parseStrace(await readFile(out, "utf8"));
  await rm(work, { recursive: true, force: true });
  return counts;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const n = REPOS * TAGS;
  if (values.child) {
    await run(REPOS > 0);
    return;
  }
  if (values.strace) {
    const [withImages, baseline] = [await straced(true), await straced(false)];
    const rows = [...withImages].map(([name, calls]) => [name, (calls - (baseline.get(name) ?? 0)) / n] as const);
    rows.sort((a, b) => b[1] - a[1]);
    const total = rows.reduce((a, [, v]) => a + v, 0);
    console.log(`${n} images (${REPOS} repos x ${TAGS} tags, ${PARALLEL} in parallel, fsync ${values.fsync}): ${total.toFixed(1)} file/desc syscalls per image`);
    for (const [name, v] of rows) if (Math.abs(v) >= 0.05) console.log(`  ${name.padEnd(12)} ${v.toFixed(2)}`);
    return;
  }
  const cpu: number[] = [];
  const wall: number[] = [];
  await run(true); // warm-up: JIT, page cache
  for (let r = 0; r < Number(values.runs); r++) {
    const m = await run(true);
    cpu.push(m.cpuMs / n);
    wall.push(m.wallMs / n);
  }
  console.log(
    `${n} images (${REPOS} repos x ${TAGS} tags, ${PARALLEL} in parallel, fsync ${values.fsync}), median of ${values.runs}: ` +
      `CPU ${median(cpu).toFixed(3)} ms/image (${cpu.map((x) => x.toFixed(3)).join(", ")}), wall ${median(wall).toFixed(3)} ms/image`,
  );
}

await main();
