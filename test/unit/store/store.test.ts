import { execFileSync } from "node:child_process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MEDIA_TYPES, REF_NAME, openStore, type FsStore } from "../../../lib/store";
import { blob, body, imageManifest, indexManifest, pushImage, readAll, tempDir } from "./fixtures";

let store: FsStore;
let cleanup: () => Promise<void>;
let root: string;

beforeEach(async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  root = join(t.dir, "store");
  store = await openStore(root);
});
afterEach(() => cleanup());

describe("staging and commit", () => {
  it("commits an image and serves it by tag and digest", async () => {
    const layer = blob("layer-bytes");
    const m = await pushImage(store, "library/alpine", "3.20", [layer]);
    const byTag = await store.getManifest("library/alpine", "3.20");
    expect(byTag).toMatchObject({ digest: m.digest, mediaType: MEDIA_TYPES.ociManifest, size: m.size });
    expect(byTag.bytes.equals(m.bytes)).toBe(true);
    expect((await store.getManifest("library/alpine", m.digest)).digest).toBe(m.digest);
    expect(await store.resolveTag("library/alpine", "3.20")).toBe(m.digest);
    expect(await store.statBlob("library/alpine", layer.digest)).toEqual({ size: layer.size });
    expect((await readAll(await store.openBlob("library/alpine", layer.digest))).toString()).toBe("layer-bytes");
    expect(await store.canSkipImage("library/alpine", "3.20", m.digest)).toBe(true);
    expect(await store.canSkipImage("library/alpine", "3.21", m.digest)).toBe(false);
    expect(await store.canSkipImage("library/alpine", "3.20", blob("other").digest)).toBe(false);
    // The repository is a plain OCI layout.
    const files = await readdir(join(root, "repos", "library", "alpine", "_oci"));
    expect(files.sort()).toEqual(["blobs", "index.json", "oci-layout"]);
    // Staging was removed by the commit.
    expect(await readdir(join(root, "staging"))).toEqual([]);
    expect(await readdir(join(root, "tmp"))).toEqual([]);
  });

  it("refuses content that does not match its digest or size, leaving nothing behind", async () => {
    const good = blob("good");
    const staging = await store.stage("app");
    await expect(staging.writeBlob(good.digest, good.size, body(blob("evil")))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(staging.writeBlob(good.digest, good.size + 1, body(good))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(staging.writeBlob(good.digest, good.size - 1, body(good))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    const m = imageManifest(good, []);
    await expect(
      staging.writeManifest(m.bytes, { mediaType: MEDIA_TYPES.ociManifest, digest: blob("x").digest }),
    ).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(staging.writeManifest(Buffer.from("not json"), { mediaType: MEDIA_TYPES.ociManifest })).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
    });
    await expect(staging.writeManifest(m.bytes, { mediaType: MEDIA_TYPES.ociIndex })).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    expect(await store.hasBlob(good.digest)).toBe(false);
    expect(await readdir(join(root, "tmp"))).toEqual([]);
    expect(await readdir(join(root, "blobs", "sha256"))).toEqual([]);
    await store.cleanupImage(staging);
    await store.cleanupImage(staging); // idempotent
    expect(await readdir(join(root, "staging"))).toEqual([]);
  });

  it("leaves no staging name behind when discarded while a blob is still being written", async () => {
    const b = blob("x".repeat(100_000));
    const staging = await store.stage("app");
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const reading = new Promise<void>((r) => {
      started = r;
    });
    const slow = Readable.from(
      (async function* () {
        yield b.bytes.subarray(0, 1000);
        started();
        await gate;
        yield b.bytes.subarray(1000);
      })(),
    );
    const writing = staging.writeBlob(b.digest, b.size, slow);
    await reading;
    await store.cleanupImage(staging);
    release();
    await expect(writing).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await readdir(join(root, "staging"))).toEqual([]);
    expect(await readdir(join(root, "tmp"))).toEqual([]);
  });

  it("refuses to commit an incomplete image, and keeps the repository untouched", async () => {
    const staging = await store.stage("app");
    const config = blob("{}");
    const layer = blob("never staged");
    await staging.writeBlob(config.digest, config.size, body(config));
    const m = imageManifest(config, [layer]);
    await staging.writeManifest(m.bytes, { mediaType: MEDIA_TYPES.ociManifest });
    staging.tag("v1", m.digest);
    await expect(store.commitAll("app", staging)).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    await expect(store.listTags("app")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await store.cleanupImage(staging);
    await expect(store.commitAll("app", staging)).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("commits a multi-platform index with children before the parent; untagged children are not roots", async () => {
    const a = imageManifest(blob("cfg-a"), [blob("layer-a")]);
    const b = imageManifest(blob("cfg-b"), [blob("layer-b")]);
    const idx = indexManifest([a, b]);
    const staging = await store.stage("multi");
    for (const s of ["cfg-a", "layer-a", "cfg-b", "layer-b"]) {
      const x = blob(s);
      await staging.writeBlob(x.digest, x.size, body(x));
    }
    // Parent staged first: commit must still order children first.
    await staging.writeManifest(idx.bytes, { mediaType: MEDIA_TYPES.ociIndex });
    await staging.writeManifest(a.bytes, { mediaType: MEDIA_TYPES.ociManifest });
    await staging.writeManifest(b.bytes, { mediaType: MEDIA_TYPES.ociManifest });
    staging.tag("latest", idx.digest);
    await store.commitAll("multi", staging);
    expect(await store.getManifest("multi", "latest")).toMatchObject({ digest: idx.digest, mediaType: MEDIA_TYPES.ociIndex });
    expect(await store.getManifest("multi", a.digest)).toMatchObject({ mediaType: MEDIA_TYPES.ociManifest });
    const index = JSON.parse((await import("node:fs")).readFileSync(join(root, "repos", "multi", "_oci", "index.json"), "utf8"));
    expect(index.manifests).toEqual([
      { mediaType: MEDIA_TYPES.ociIndex, digest: idx.digest, size: idx.size, annotations: { [REF_NAME]: "latest" } },
    ]);
    expect((await store.verify()).ok).toBe(true);
  });

  it("moves a tag, keeps other tags, and can tag a manifest already stored", async () => {
    const m1 = await pushImage(store, "app", "v1", [blob("one")]);
    const m2 = await pushImage(store, "app", "v2", [blob("two")]);
    await pushImage(store, "app", "v1", [blob("three")]);
    expect(await store.resolveTag("app", "v2")).toBe(m2.digest);
    expect(await store.resolveTag("app", "v1")).not.toBe(m1.digest);
    const staging = await store.stage("app");
    staging.tag("stable", m2.digest);
    await store.commitAll("app", staging);
    expect(await store.resolveTag("app", "stable")).toBe(m2.digest);
    expect(await store.listTags("app")).toEqual(["stable", "v1", "v2"]);
  });
  it("keeps every tag of an index.json larger than one read (read-modify-write reads it whole)", async () => {
    const m = await pushImage(store, "many", "v0", [blob("m")]);
    // Well over the 16 KiB first read, and over its doubling: ~250 bytes per tag entry.
    const tags = Array.from({ length: 250 }, (_, i) => `tag-${i}`);
    const staging = await store.stage("many");
    for (const t of tags) staging.tag(t, m.digest);
    await store.commitAll("many", staging);
    await pushImage(store, "many", "last", [blob("n")]);
    expect((await store.listTags("many")).sort()).toEqual(["last", "v0", ...tags].sort());
    const { stat } = await import("node:fs/promises");
    expect((await stat(join(root, "repos", "many", "_oci", "index.json"))).size).toBeGreaterThan(48 * 1024);
  });
});

describe("dedupe", () => {
  it("stores shared content once and skips writing what exists", async () => {
    const shared = blob("shared layer ".repeat(1000));
    await pushImage(store, "one", "v1", [shared]);
    expect(await store.hasBlob(shared.digest)).toBe(true);
    expect(await store.hasBlob(blob("nope").digest)).toBe(false);

    const staging = await store.stage("two");
    let pulled = false;
    const lazy = new Readable({
      read() {
        pulled = true;
        this.push(shared.bytes);
        this.push(null);
      },
    });
    expect(await staging.writeBlob(shared.digest, shared.size, lazy)).toEqual({ digest: shared.digest, size: shared.size, deduped: true });
    expect(pulled).toBe(false);
    expect(lazy.destroyed).toBe(true);
    expect(await staging.linkExistingBlob(shared.digest)).toBe(true);
    expect(await staging.linkExistingBlob(blob("absent").digest)).toBe(false);
    await store.cleanupImage(staging);

    await pushImage(store, "two", "v1", [shared]);
    const { statSync } = await import("node:fs");
    const a = statSync(join(root, "repos", "one", "_oci", "blobs", "sha256", shared.digest.slice(7)));
    const b = statSync(join(root, "repos", "two", "_oci", "blobs", "sha256", shared.digest.slice(7)));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(3); // pool + two repositories
    expect(await store.storeSize()).toBeLessThan((await store.repositorySize("one")) + (await store.repositorySize("two")));
  });
});

describe("reads", () => {
  it("serves byte ranges and refuses unsatisfiable ones", async () => {
    const layer = blob("0123456789");
    await pushImage(store, "r", "v", [layer]);
    const part = async (start?: number, end?: number) =>
      (await readAll(await store.openBlob("r", layer.digest, { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) }))).toString();
    expect(await part(0, 0)).toBe("0");
    expect(await part(2, 5)).toBe("2345");
    expect(await part(7)).toBe("789");
    expect(await part(8, 1000)).toBe("89");
    expect(await part()).toBe("0123456789");
    await expect(store.openBlob("r", layer.digest, { start: 10 })).rejects.toMatchObject({ code: "RANGE_NOT_SATISFIABLE" });
    await expect(store.openBlob("r", layer.digest, { start: 5, end: 4 })).rejects.toMatchObject({ code: "RANGE_NOT_SATISFIABLE" });
    await expect(store.openBlob("r", layer.digest, { start: -1 })).rejects.toMatchObject({ code: "RANGE_NOT_SATISFIABLE" });
    await expect(store.openBlob("r", blob("absent").digest)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // A blob of another repository is not visible here.
    await pushImage(store, "other", "v", [blob("private")]);
    expect(await store.statBlob("r", blob("private").digest)).toBeNull();
  });

  it("sees index.json rewritten within a clock tick, though inode, size and mtime are unchanged", async () => {
    const a = await pushImage(store, "app", "a", [blob("layer-a")]);
    const b = await pushImage(store, "app", "b", [blob("layer-b")]);
    expect(await store.resolveTag("app", "a")).toBe(a.digest);
    // Another commit's index of the same size at the same inode and file times: what the reuse of
    // a freed inode within one coarse tick looks like. Swapping the two digests keeps the size.
    const path = join(root, "repos", "app", "_oci", "index.json");
    const before = await stat(path, { bigint: true });
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replaceAll(a.digest, "@A@").replaceAll(b.digest, a.digest).replaceAll("@A@", b.digest));
    const ns = (t: bigint) => `@${t / 1_000_000_000n}.${String(t % 1_000_000_000n).padStart(9, "0")}`;
    execFileSync("touch", ["-m", "-d", ns(before.mtimeNs), path]);
    const after = await stat(path, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(await store.resolveTag("app", "a")).toBe(b.digest);
  });

  it("lists tags and repositories in lexical order, with paging", async () => {
    for (const t of ["b", "a", "c", "1.0"]) await pushImage(store, "x/y", t, [blob(`l-${t}`)]);
    expect(await store.listTags("x/y")).toEqual(["1.0", "a", "b", "c"]);
    expect(await store.listTags("x/y", { n: 2 })).toEqual(["1.0", "a"]);
    expect(await store.listTags("x/y", { n: 2, last: "a" })).toEqual(["b", "c"]);
    await expect(store.listTags("nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await pushImage(store, "x", "v", [blob("parent")]);
    await pushImage(store, "x/y/blobs", "v", [blob("child named blobs")]);
    await pushImage(store, "alpine", "v", [blob("alpine")]);
    expect(await store.listRepositories()).toEqual(["alpine", "x", "x/y", "x/y/blobs"]);
    expect(await store.listRepositories({ last: "x", n: 1 })).toEqual(["x/y"]);
    await expect(store.getManifest("nope", "latest")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(store.getManifest("x", "missing")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("finds referrers from stored manifests' subject, filtered by artifactType", async () => {
    const image = await pushImage(store, "app", "v1", [blob("app layer")]);
    const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: image.digest, size: image.size };
    const sig = await pushImage(store, "app", null, [blob("signature")], {
      subject,
      artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
      annotations: { "dev.sigstore.cosign": "yes" },
    });
    const sbom = await pushImage(store, "app", null, [blob("sbom")], {
      subject,
      configType: "application/spdx+json",
    });
    await pushImage(store, "app", "unrelated", [blob("other")]);
    const all = await store.referrers("app", image.digest);
    expect(all).toHaveLength(2);
    expect(all).toContainEqual({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: sig.digest,
      size: sig.size,
      artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
      annotations: { "dev.sigstore.cosign": "yes" },
    });
    expect(all).toContainEqual({ mediaType: MEDIA_TYPES.ociManifest, digest: sbom.digest, size: sbom.size, artifactType: "application/spdx+json" });
    expect(await store.referrers("app", image.digest, { artifactType: "application/spdx+json" })).toHaveLength(1);
    expect(await store.referrers("app", blob("nothing").digest)).toEqual([]);
    // Untagged referrers are roots: they survive gc.
    await store.gc({ gracePeriodMs: 0 });
    expect(await store.referrers("app", image.digest)).toHaveLength(2);
  });

  it("reports repository and store sizes", async () => {
    const l = blob("x".repeat(1000));
    const m = await pushImage(store, "s", "v", [l]);
    const size = await store.repositorySize("s");
    expect(size).toBeGreaterThan(1000 + m.size);
    expect(await store.storeSize()).toBe(size);
  });
});

describe("recovery", () => {
  it("removes staging and temp files of dead owners but not of live ones", async () => {
    const { mkdir, writeFile } = await import("node:fs/promises");
    const dead = "aaaaaaaaaaaa~bbbbbbbbbbbb~999999~0011223344556677";
    await mkdir(join(root, "staging", dead, "blobs", "sha256"), { recursive: true });
    await writeFile(join(root, "tmp", dead), "half a blob");
    const live = await store.stage("app");
    const held = blob("live");
    await live.writeBlob(held.digest, held.size, body(held));
    const report = await store.recover();
    expect(report.stagingRemoved).toBeGreaterThanOrEqual(0);
    // The foreign-host entries above are young, so they stay; a same-host dead pid goes at once.
    const { ownedName } = await import("../../../lib/store/layout");
    const mine = ownedName().split("~");
    const deadHere = `${mine[0]}~${mine[1]}~999999~0011223344556677`;
    await mkdir(join(root, "staging", deadHere));
    await writeFile(join(root, "tmp", deadHere), "half");
    const r2 = await store.recover();
    expect(r2).toMatchObject({ stagingRemoved: 1, tmpRemoved: 1 });
    expect((await readdir(join(root, "staging"))).sort()).toEqual([dead, `${live.id}.sha256-${held.digest.slice(7)}`].sort());
    await store.cleanupImage(live);
    expect(await readdir(join(root, "staging"))).toEqual([dead]);
  });
});

describe("edge cases", () => {
  it("serves an empty blob, and refuses any range on it", async () => {
    const empty = blob("");
    await pushImage(store, "e", "v", [empty]);
    expect(await store.statBlob("e", empty.digest)).toEqual({ size: 0 });
    expect((await readAll(await store.openBlob("e", empty.digest))).length).toBe(0);
    await expect(store.openBlob("e", empty.digest, { start: 0 })).rejects.toMatchObject({ code: "RANGE_NOT_SATISFIABLE" });
  });

  it("keeps every tag when one process commits many tags concurrently, and a staging area commits once", async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => pushImage(store, "busy", `t${i}`, [blob(`busy ${i}`)])));
    expect(await store.listTags("busy")).toHaveLength(30);
    const staging = await store.stage("busy");
    const m = (await store.getManifest("busy", "t0")).digest;
    staging.tag("again", m);
    const first = store.commitAll("busy", staging);
    await expect(store.commitAll("busy", staging)).rejects.toMatchObject({ code: "CONFLICT" });
    await first;
    expect(await store.resolveTag("busy", "again")).toBe(m);
  });
});

describe("sha512", () => {
  it("stores and serves sha512-addressed content next to sha256", async () => {
    const { createHash } = await import("node:crypto");
    const bytes = Buffer.from("sha512 layer");
    const digest = `sha512:${createHash("sha512").update(bytes).digest("hex")}`;
    const config = blob("{}");
    const manifest = blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size: bytes.length }],
      }),
    );
    const staging = await store.stage("five12");
    await staging.writeBlob(config.digest, config.size, body(config));
    await expect(staging.writeBlob(digest, bytes.length, body(Buffer.from("sha512 layeR")))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await staging.writeBlob(digest, bytes.length, body(bytes));
    staging.tag("v1", await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest }));
    await store.commitAll("five12", staging);
    expect(await store.statBlob("five12", digest)).toEqual({ size: bytes.length });
    expect(await store.hasBlob(digest)).toBe(true);
    expect((await store.verify()).ok).toBe(true);
  });
});
