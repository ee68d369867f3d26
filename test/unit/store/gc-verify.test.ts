import { execFile } from "node:child_process";
import { open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, verifyStoreAt, type FsStore } from "../../../lib/store";
import { blob, body, pushImage, tempDir } from "./fixtures";

let store: FsStore;
let cleanup: () => Promise<void>;
let root: string;

beforeEach(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  root = join(t.dir, "store");
  store = await openStore(root, { fsync: false });
});
afterEach(() => cleanup());

const poolCount = async () => (await readdir(join(root, "blobs", "sha256"))).length;

describe("delete and gc", () => {
  it("deleteTag and deleteManifest update the index; gc then frees unreferenced blobs", async () => {
    const shared = blob("shared");
    const m1 = await pushImage(store, "app", "v1", [shared, blob("only-v1")]);
    await pushImage(store, "app", "v2", [shared, blob("only-v2")]);
    await pushImage(store, "other", "v1", [shared]);
    const before = await poolCount();

    await store.deleteTag("app", "v1");
    expect(await store.listTags("app")).toEqual(["v2"]);
    await expect(store.deleteTag("app", "v1")).rejects.toMatchObject({ code: "NOT_FOUND" });
    // The manifest is still pullable by digest until gc.
    expect((await store.getManifest("app", m1.digest)).digest).toBe(m1.digest);

    // A grace period protects freshly unreferenced pool entries.
    const graced = await store.gc({ gracePeriodMs: 60_000 });
    expect(graced.removedFromRepositories).toBe(3); // m1, its config, only-v1
    expect(graced.removedFromPool).toBe(0);
    await expect(store.getManifest("app", m1.digest)).rejects.toMatchObject({ code: "NOT_FOUND" });

    const report = await store.gc({ gracePeriodMs: 0 });
    expect(report.removedFromPool).toBe(3);
    expect(await poolCount()).toBe(before - 3);
    expect(await store.statBlob("app", shared.digest)).not.toBeNull();
    expect(await store.statBlob("app", blob("only-v1").digest)).toBeNull();
    expect(await store.hasBlob(blob("only-v1").digest)).toBe(false);
    expect(await store.hasBlob(shared.digest)).toBe(true);

    const m2 = await store.resolveTag("app", "v2");
    await store.deleteManifest("app", m2 as string);
    expect(await store.listTags("app")).toEqual([]);
    await expect(store.deleteManifest("app", m2 as string)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await store.gc({ gracePeriodMs: 0 });
    expect(await store.statBlob("app", shared.digest)).toBeNull();
    expect(await store.hasBlob(shared.digest)).toBe(true); // still used by "other"
    expect((await store.verify()).ok).toBe(true);
  });

  it("never removes content a staging area holds, even when gc runs mid-sync", async () => {
    const layer = blob("in flight");
    const staging = await store.stage("app");
    await staging.writeBlob(layer.digest, layer.size, body(layer));
    await store.gc({ gracePeriodMs: 0 }); // pool entry has nlink 2 (pool + staging): kept
    expect(await store.hasBlob(layer.digest)).toBe(true);
    // Even if the pool name is lost, commit re-links from the staging inode.
    await unlink(join(root, "blobs", "sha256", layer.digest.slice(7)));
    const { imageManifest } = await import("./fixtures");
    const cfg = blob("cfg");
    await staging.writeBlob(cfg.digest, cfg.size, body(cfg));
    const m = imageManifest(cfg, [layer]);
    await staging.writeManifest(m.bytes, { mediaType: "application/vnd.oci.image.manifest.v1+json" });
    staging.tag("v1", m.digest);
    await store.commitAll("app", staging);
    expect(await store.hasBlob(layer.digest)).toBe(true);
    expect((await store.verify()).ok).toBe(true);
  });
});

describe("verify", () => {
  it("detects a flipped byte in a blob, and the CLI exits non-zero", async () => {
    const layer = blob(Buffer.alloc(100_000, 7));
    await pushImage(store, "app", "v1", [layer]);
    await pushImage(store, "app2", "v1", [layer]);
    expect((await store.verify()).ok).toBe(true);

    const fh = await open(join(root, "blobs", "sha256", layer.digest.slice(7)), "r+");
    await fh.write(Buffer.from([8]), 0, 1, 54_321);
    await fh.close();

    const report = await store.verify();
    expect(report.ok).toBe(false);
    // One inode, three names (pool + two repositories): all reported, hashed once.
    expect(report.corrupt.map((c) => c.repo ?? "pool").sort()).toEqual(["app", "app2", "pool"]);
    expect(report.corrupt.every((c) => c.digest === layer.digest)).toBe(true);
    // Reads refuse corrupt manifests, but blobs are streamed as stored (clients verify digests).
    const { exitCode, summary } = await verifyStoreAt(root);
    expect(exitCode).toBe(1);
    expect(summary).toContain("CORRUPT");

    const run = promisify(execFile);
    const err = await run(process.execPath, ["--import", "tsx", "lib/store/cli-verify.ts", root]).catch((e: { code: number; stdout: string }) => e);
    expect((err as { code: number }).code).toBe(1);
  });

  it("reports missing and unreferenced content", async () => {
    const layer = blob("will go missing");
    await pushImage(store, "app", "v1", [layer]);
    await unlink(join(root, "repos", "app", "_oci", "blobs", "sha256", layer.digest.slice(7)));
    const staging = await store.stage("app");
    const stray = blob("stray");
    await staging.writeBlob(stray.digest, stray.size, body(stray));
    await store.cleanupImage(staging);
    const report = await store.verify();
    expect(report.ok).toBe(false);
    expect(report.missing).toEqual([expect.objectContaining({ repo: "app", digest: layer.digest })]);
    expect(report.unreferenced).toContainEqual({ repo: null, digest: stray.digest });
  });
});
