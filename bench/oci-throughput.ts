/**
 * lib/oci download benchmark (run by hand: `npx tsx bench/oci-throughput.ts`). Loopback only.
 *
 * Starts a docker-registry, places 200×1 MiB and 4×256 MiB random blobs plus one 1 GiB blob in
 * its storage, then downloads them with RegistryClient (verifying sha256 while streaming) and
 * with one `curl --parallel` process at the same parallelism, and reports the throughput ratio.
 * Peak RSS is measured in a child process that only streams the 1 GiB blob through the client.
 *
 * Blobs are written straight into the registry's filesystem layout (blob data + repository
 * link), which is what a push leaves behind, so setup does not hold gigabytes in memory.
 * Sizes can be reduced with BENCH_SCALE=0.25 (applies to the 256 MiB and 1 GiB blobs);
 * BENCH_ONLY=rss runs only the memory measurement.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { RegistryClient } from "../lib/oci";
import { childStream, sink } from "./oci-throughput-child";

const MiB = 1024 * 1024;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 8);

async function placeBlob(root: string, repo: string, size: number): Promise<{ digest: string; size: number }> {
  const tmp = path.join(root, "data", `tmp-${randomBytes(6).toString("hex")}`);
  await mkdir(path.dirname(tmp), { recursive: true });
  const hash = createHash("sha256");
  const out = createWriteStream(tmp);
  const chunk = 4 * MiB;
  for (let left = size; left > 0; left -= chunk) {
    const b = randomBytes(Math.min(chunk, left));
    hash.update(b);
    if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const hex = hash.digest("hex");
  const v2 = path.join(root, "data", "docker", "registry", "v2");
  const blobDir = path.join(v2, "blobs", "sha256", hex.slice(0, 2), hex);
  await mkdir(blobDir, { recursive: true });
  const { rename } = await import("node:fs/promises");
  await rename(tmp, path.join(blobDir, "data"));
  const linkDir = path.join(v2, "repositories", repo, "_layers", "sha256", hex);
  await mkdir(linkDir, { recursive: true });
  await writeFile(path.join(linkDir, "link"), `sha256:${hex}`);
  return { digest: `sha256:${hex}`, size };
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

async function withClient(url: string, repo: string, blobs: Array<{ digest: string; size: number }>, parallel: number): Promise<number> {
  const client = new RegistryClient({ url, maxConcurrentRequests: parallel });
  const t0 = performance.now();
  await pool(blobs, parallel, async (b) => {
    await pipeline(await client.getBlob(repo, b.digest, { expectedSize: b.size }), sink());
  });
  const s = (performance.now() - t0) / 1000;
  await client.close();
  return s;
}

async function withCurl(url: string, repo: string, blobs: Array<{ digest: string }>, parallel: number, dir: string): Promise<number> {
  const cfg = path.join(dir, `curl-${randomBytes(4).toString("hex")}.cfg`);
  await writeFile(cfg, blobs.map((b) => `url = "${url}/v2/${repo}/blobs/${b.digest}"\noutput = "/dev/null"\n`).join(""));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile("curl", ["-s", "-f", "-L", "-Z", "--parallel-max", String(parallel), "-K", cfg], { maxBuffer: 1 << 20 }, (err) => (err ? reject(err) : resolve())),
  );
  return (performance.now() - t0) / 1000;
}

/** curl piped into sha256sum per blob: the same work the client does (download + verify). */
async function withCurlHash(url: string, repo: string, blobs: Array<{ digest: string }>, parallel: number, dir: string): Promise<number> {
  const list = path.join(dir, `urls-${randomBytes(4).toString("hex")}.txt`);
  await writeFile(list, blobs.map((b) => `${url}/v2/${repo}/blobs/${b.digest}\n`).join(""));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile("sh", ["-c", `xargs -P ${parallel} -n 1 sh -c 'curl -s -f -L "$0" | sha256sum >/dev/null' < ${list}`], (err) => (err ? reject(err) : resolve())),
  );
  return (performance.now() - t0) / 1000;
}

/**
 * Peak RSS while streaming the huge blob, in a child process: under tsx (the TypeScript loader
 * and its compile cache cost ~30 MiB before any byte moves) and as plain JavaScript under `node`
 * (this file bundled by esbuild, which is what a built Ferry runs). The same child is also run
 * without downloading anything, so the footprint of the stream itself can be told from the
 * runtime's.
 */
async function rssRuns(url: string, repo: string, huge: { digest: string; size: number }): Promise<string[]> {
  const self = fileURLToPath(import.meta.url);
  const bundle = path.join(os.tmpdir(), `ferry-oci-bench-${process.pid}.cjs`);
  const { build } = await import("esbuild");
  // Only the child's code and lib/oci (with undici) go into the bundle, not the registry helper.
  await build({
    // CommonJS: undici is CommonJS and requires node builtins at run time.
    stdin: { contents: `import { childStream } from "./oci-throughput-child"; void childStream(...process.argv.slice(3));`, resolveDir: path.dirname(self), loader: "ts" },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: bundle,
    logLevel: "silent",
  });
  const lines: string[] = [];
  try {
    for (const [label, argv] of [
      ["tsx", ["--import", "tsx", self]],
      ["node (bundled JS)", [bundle]],
    ] as const) {
      const runChild = async (size: number) => {
        const out = await new Promise<string>((resolve, reject) =>
          execFile(process.execPath, [...argv, "--child", url, repo, huge.digest, String(size)], (err, stdout) => (err ? reject(err) : resolve(stdout))),
        );
        return JSON.parse(out.trim().split("\n").at(-1)!) as { maxRssMiB: number; beforeMiB: number; seconds: number };
      };
      const idle = await runChild(0);
      const child = await runChild(huge.size);
      lines.push(
        `streaming ${Math.round(huge.size / MiB)} MiB under ${label}: peak RSS ${child.maxRssMiB.toFixed(0)} MiB (${child.beforeMiB.toFixed(0)} MiB before the download; ` +
          `the same child without downloading peaks at ${idle.maxRssMiB.toFixed(0)} MiB), ${(huge.size / MiB / child.seconds).toFixed(0)} MiB/s`,
      );
    }
  } finally {
    await rm(bundle, { force: true });
  }
  return lines;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") return childStream(...process.argv.slice(3));
  const { startRegistry } = await import("../test/helpers/registry");
  const reg = await startRegistry();
  try {
    const repo = "bench/blobs";
    console.log(`placing blobs (scale ${SCALE}) in ${reg.root} ...`);
    const small: Array<{ digest: string; size: number }> = [];
    for (let i = 0; i < 200; i++) small.push(await placeBlob(reg.root, repo, MiB));
    const large: Array<{ digest: string; size: number }> = [];
    for (let i = 0; i < 4; i++) large.push(await placeBlob(reg.root, repo, Math.round(256 * MiB * SCALE)));
    const huge = await placeBlob(reg.root, repo, Math.round(1024 * MiB * SCALE));

    const rows: string[] = [];
    // BENCH_ONLY=rss skips the throughput runs.
    for (const [label, blobs, par] of process.env.BENCH_ONLY === "rss" ? [] : [
      ["200 × 1 MiB", small, PARALLEL],
      [`4 × ${Math.round(256 * SCALE)} MiB`, large, 4],
    ] as const) {
      const bytes = blobs.reduce((a, b) => a + b.size, 0);
      // warm-up (page cache, connections), then best of 3 for each side
      await withCurl(reg.url, repo, blobs, par, reg.root);
      let c = Infinity;
      let k = Infinity;
      let h = Infinity;
      for (let i = 0; i < 3; i++) {
        c = Math.min(c, await withClient(reg.url, repo, blobs, par));
        k = Math.min(k, await withCurl(reg.url, repo, blobs, par, reg.root));
        h = Math.min(h, await withCurlHash(reg.url, repo, blobs, par, reg.root));
      }
      const mbs = (s: number) => (bytes / MiB / s).toFixed(0);
      const pct = (s: number) => `${((s / c) * 100).toFixed(0)}%`;
      rows.push(`| ${label} | ${par} | ${mbs(c)} MiB/s | ${mbs(k)} MiB/s | ${pct(k)} | ${mbs(h)} MiB/s | ${pct(h)} |`);
    }
    console.log("| workload | parallel | RegistryClient (sha256-verified) | curl --parallel (no verify) | client/curl | curl \\| sha256sum | client/(curl+sha256sum) |");
    console.log("|---|---|---|---|---|---|---|");
    for (const r of rows) console.log(r);
    for (const line of await rssRuns(reg.url, repo, huge)) console.log(line);
  } finally {
    await reg.stop();
  }
}

await main();
