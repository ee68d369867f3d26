/**
 * Staging.writeBlobFromFile: local files copied into the store and verified in worker threads.
 * Both paths of the worker are covered: small files (read once, hashed, written from memory) and
 * files of 1 MiB and more (copy_file_range, then the copy is re-read and hashed).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../../lib/errors";
import { MEDIA_TYPES, openStore, type FsStore } from "../../../lib/store";
import { closeImportPool } from "../../../lib/store/import-pool";
import { blob, body, imageManifest, readAll, tempDir, type Blob } from "./fixtures";

const MiB = 1024 * 1024;

let dir: string;
let store: FsStore;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const t = await tempDir();
  dir = t.dir;
  cleanup = t.cleanup;
  // The default (fsync) mode: the workers' fdatasync path runs too.
  store = await openStore(join(dir, "store"));
});
afterEach(() => cleanup());
afterAll(() => closeImportPool());

async function source(name: string, b: Blob): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, b.bytes);
  return path;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (err instanceof AppError) return err.code;
  return (err as { code?: string } | null)?.code ?? String(err);
}

/** Every file name under the store's pool, tmp and staging folders. */
async function storedNames(): Promise<{ pool: string[]; tmp: string[]; staging: string[] }> {
  const list = async (d: string) => (await readdir(join(store.root, d), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  return { pool: await list("blobs"), tmp: await list("tmp"), staging: await list("staging") };
}

const hexOf = (b: Blob) => b.digest.slice("sha256:".length);

describe("writeBlobFromFile", () => {
  it("commits small and big local files that read back byte for byte, mode 0644", async () => {
    const layers = [blob(randomBytes(16 * 1024)), blob(randomBytes(3 * MiB + 17)), blob(Buffer.alloc(0)), blob(randomBytes(MiB))];
    const paths = await Promise.all(layers.map((l, i) => source(`layer-${i}`, l)));
    // A private source file: the stored copy must still be readable like any other store file.
    await chmod(paths[1] as string, 0o600);
    const config = blob(JSON.stringify({ architecture: "amd64", os: "linux" }));
    const manifest = imageManifest(config, layers);

    const staging = await store.stage("local/app");
    await staging.writeBlob(config.digest, config.size, body(config));
    const results = await Promise.all(layers.map((l, i) => staging.writeBlobFromFile(l.digest, l.size, paths[i] as string)));
    expect(results.map((r) => r.deduped)).toEqual([false, false, false, false]);
    await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest, digest: manifest.digest });
    staging.tag("v1", manifest.digest);
    await store.commitAll("local/app", staging);

    for (const l of layers) {
      // Buffer.equals: toEqual on megabytes compares element by element and takes seconds.
      expect((await readAll(await store.openBlob("local/app", l.digest))).equals(l.bytes)).toBe(true);
      expect((await stat(join(store.root, "blobs", "sha256", hexOf(l)))).mode & 0o777).toBe(0o644);
    }
    expect((await store.verify()).ok).toBe(true);
    expect((await storedNames()).tmp).toEqual([]);
  });

  it.each([
    ["small", 64 * 1024],
    ["big", 2 * MiB],
  ])("a wrong digest (%s file) is DIGEST_MISMATCH and leaves nothing under any name", async (_, size) => {
    const real = blob(randomBytes(size));
    const claimed = blob(randomBytes(size));
    const path = await source("file", real);
    const staging = await store.stage("local/app");
    expect(await codeOf(staging.writeBlobFromFile(claimed.digest, size, path))).toBe("DIGEST_MISMATCH");
    const names = await storedNames();
    expect(names.tmp).toEqual([]);
    expect(names.pool).not.toContain(hexOf(claimed));
    expect(names.pool).not.toContain(hexOf(real));
    expect(names.staging).toEqual([]);
    expect(await store.hasBlob(claimed.digest)).toBe(false);
  });

  it.each([
    ["small, claimed larger", 1000, 1001],
    ["small, claimed smaller", 1000, 999],
    ["big, claimed larger", 2 * MiB, 2 * MiB + 1],
    ["big, claimed smaller", 2 * MiB, 2 * MiB - 1],
    ["claimed size crosses the small/big line", MiB + 5, MiB - 5],
  ])("a wrong size (%s) is DIGEST_MISMATCH, tmp stays empty", async (_, actual, claimedSize) => {
    const b = blob(randomBytes(actual));
    const path = await source("file", b);
    const staging = await store.stage("local/app");
    const err = await staging.writeBlobFromFile(b.digest, claimedSize, path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("DIGEST_MISMATCH");
    expect((await storedNames()).tmp).toEqual([]);
    expect(await store.hasBlob(b.digest)).toBe(false);
  });

  it("dedupes against content the pool already holds without reading the file", async () => {
    const layer = blob(randomBytes(2 * MiB));
    const first = await store.stage("team-a/app");
    await first.writeBlob(layer.digest, layer.size, body(layer));
    const staging = await store.stage("team-b/app");
    // The path does not even exist: a deduped blob is linked from the pool, its file is not read.
    const r = await staging.writeBlobFromFile(layer.digest, layer.size, join(dir, "missing"));
    expect(r).toEqual({ digest: layer.digest, size: layer.size, deduped: true });
    // A size that disagrees with the stored content is refused like writeBlob refuses it.
    const path = await source("file", layer);
    expect(await codeOf(staging.writeBlobFromFile(layer.digest, layer.size + 1, path))).toBe("DIGEST_MISMATCH");
    // One inode: pool + the two staging areas.
    expect((await stat(join(store.root, "blobs", "sha256", hexOf(layer)))).nlink).toBe(3);
  });

  it.each([
    ["small", 200 * 1024],
    ["big", 16 * MiB],
  ])("discarded while a %s file is imported: CONFLICT, and no staging or tmp name is left", async (_, size) => {
    const b = blob(randomBytes(size));
    const path = await source("file", b);
    const staging = await store.stage("local/app");
    // The worker renames the verified copy to its staging name on its own; the JS thread must
    // remove that name when it learns the image was discarded meanwhile.
    const importing = staging.writeBlobFromFile(b.digest, b.size, path);
    await store.cleanupImage(staging);
    expect(await codeOf(importing)).toBe("CONFLICT");
    const names = await storedNames();
    expect(names.staging).toEqual([]);
    expect(names.tmp).toEqual([]);
  });

  it("a source already longer than the claimed size is refused without being copied", async () => {
    const huge = blob(randomBytes(8 * MiB));
    const path = await source("file", huge);
    const staging = await store.stage("local/app");
    const err = await staging.writeBlobFromFile(huge.digest, 2 * MiB, path).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("DIGEST_MISMATCH");
    expect((err as AppError).details).toMatchObject({ got: `more than ${2 * MiB} bytes` });
    expect((await storedNames()).tmp).toEqual([]);
  });

  it("a missing or unreadable source fails with its filesystem error and leaves tmp empty", async () => {
    const b = blob(randomBytes(100));
    const staging = await store.stage("local/app");
    expect(await codeOf(staging.writeBlobFromFile(b.digest, b.size, join(dir, "missing")))).toBe("ENOENT");
    const big = blob(randomBytes(2 * MiB));
    expect(await codeOf(staging.writeBlobFromFile(big.digest, big.size, join(dir, "missing")))).toBe("ENOENT");
    // Not a regular file: refused before anything is read (a FIFO would block a worker).
    expect(await codeOf(staging.writeBlobFromFile(b.digest, b.size, dir))).toBe("EINVAL");
    expect(await codeOf(staging.writeBlobFromFile(big.digest, big.size, dir))).toBe("EINVAL");
    expect((await storedNames()).tmp).toEqual([]);
  });

  it("a full disk is STORE_FULL on both paths and leaves tmp empty", async (ctx) => {
    const mnt = join(dir, "small-disk");
    await mkdir(mnt);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], { stdio: "ignore" });
    } catch {
      ctx.skip("cannot mount a tmpfs here");
    }
    try {
      const small = await openStore(join(mnt, "store"), { fsync: false });
      const staging = await small.stage("local/app");
      const big = blob(randomBytes(6 * MiB));
      expect(await codeOf(staging.writeBlobFromFile(big.digest, big.size, await source("big", big)))).toBe("STORE_FULL");
      // Leave less room than the next small file needs.
      await writeFile(join(mnt, "filler"), Buffer.alloc(4 * MiB - 200 * 1024)).catch(() => undefined);
      const little = blob(randomBytes(512 * 1024));
      expect(await codeOf(staging.writeBlobFromFile(little.digest, little.size, await source("little", little)))).toBe("STORE_FULL");
      expect(await readdir(join(small.root, "tmp"))).toEqual([]);
      expect(await small.hasBlob(big.digest)).toBe(false);
      expect(await small.hasBlob(little.digest)).toBe(false);
    } finally {
      execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
    }
  });

  it("many files at once, and again after the pool was closed", async () => {
    const files = [...Array.from({ length: 40 }, () => blob(randomBytes(4096))), ...Array.from({ length: 3 }, () => blob(randomBytes(2 * MiB)))];
    const paths = await Promise.all(files.map((f, i) => source(`f-${i}`, f)));
    const staging = await store.stage("local/app");
    await Promise.all(files.slice(0, 20).map((f, i) => staging.writeBlobFromFile(f.digest, f.size, paths[i] as string)));
    await closeImportPool();
    await Promise.all(files.slice(20).map((f, i) => staging.writeBlobFromFile(f.digest, f.size, paths[i + 20] as string)));
    for (const f of files) expect(await store.hasBlob(f.digest)).toBe(true);
    expect((await storedNames()).tmp).toEqual([]);
  });

  it("small files sent to a worker together each get their own answer", async () => {
    const files = Array.from({ length: 24 }, () => blob(randomBytes(1000)));
    const paths = await Promise.all(files.map((f, i) => source(`f-${i}`, f)));
    const wrong = blob(randomBytes(1000));
    const staging = await store.stage("local/app");
    // Queued in one tick: several share a worker message (import-pool.ts batches small files).
    const results = await Promise.allSettled(
      files.map((f, i) => {
        if (i === 5) return staging.writeBlobFromFile(wrong.digest, f.size, paths[i] as string);
        if (i === 6) return staging.writeBlobFromFile(f.digest, f.size, join(dir, "missing"));
        return staging.writeBlobFromFile(f.digest, f.size, paths[i] as string);
      }),
    );
    const codes = results.map((r) => (r.status === "fulfilled" ? "ok" : ((r.reason as { code?: string }).code ?? "?")));
    expect(codes).toEqual(files.map((_, i) => (i === 5 ? "DIGEST_MISMATCH" : i === 6 ? "ENOENT" : "ok")));
    for (const [i, f] of files.entries()) expect(await store.hasBlob(f.digest)).toBe(i !== 5 && i !== 6);
    expect(await store.hasBlob(wrong.digest)).toBe(false);
    expect((await storedNames()).tmp).toEqual([]);
  });

  it("a process that imported a file exits on its own (idle workers do not hold it)", async () => {
    const b = blob(randomBytes(2 * MiB));
    const path = await source("file", b);
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "file-import-child.ts"), "once", join(dir, "child-store"), path, b.digest, String(b.size)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
    clearTimeout(timer);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(JSON.parse(out.trim())).toEqual({ digest: b.digest, size: b.size, deduped: false });
  });
  it("SIGKILL while importing files leaves nothing unverified under a final name", async () => {
    const root = join(dir, "crash-store");
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "file-import-child.ts"), "loop", root, join(dir, "scratch")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      // Killed a random moment after its first commit: in a copy, a hash, a flush or a rename.
      for (let i = 0; i < 300 && !out.includes("ready") && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain("ready");
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 400)));
      child.kill("SIGKILL");
      await exited;
      clearTimeout(timer);
    }
    const after = await openStore(root);
    expect(await readdir(join(after.root, "tmp"))).toEqual([]);
    const report = await after.verify();
    expect(report.corrupt).toEqual([]);
    expect(report.missing).toEqual([]);
    expect(report.ok).toBe(true);
    for (const tag of await after.listTags("child/app")) {
      const m = await after.getManifest("child/app", tag);
      const layers = (JSON.parse(m.bytes.toString()) as { layers: Array<{ digest: string; size: number }> }).layers;
      for (const l of layers) expect(await after.statBlob("child/app", l.digest)).toEqual({ size: l.size });
    }
  }, 60_000);
});
