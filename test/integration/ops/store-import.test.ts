/**
 * `ferry store import`: images pushed to a real docker-registry, written to OCI layouts by real
 * skopeo, imported into a store by the CLI (a child process) or `importOciLayout`, then read back
 * through the store and re-hashed by `ferry store verify`. A damaged or incomplete layout must
 * leave nothing behind: no repository, no temp files.
 */
import { execFile } from "node:child_process";
import { cp, mkdtemp, open, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsStore, importOciLayout, REF_NAME } from "../../../lib/store";
import { ferryCli as ferry } from "../../helpers/ferry-process";
import { pushImage, pushIndex, type PushedManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";

const SKOPEO = "/usr/bin/skopeo";
const run = promisify(execFile);

describe.skipIf(!registryAvailable())("ferry store import", () => {
  let tmp: string;
  let registry: TestRegistry;
  let one: PushedManifest;
  let two: PushedManifest;
  let multi: PushedManifest & { children: PushedManifest[] };
  /** apps/one:1.0 and :2.0 in one layout; apps/multi:v1 (an index, --all) in another. */
  let layout: string;
  let multiLayout: string;
  let root: string;

  const copy = (src: string, dest: string, all = false) =>
    run(SKOPEO, ["copy", ...(all ? ["--all"] : []), "--preserve-digests", "--src-tls-verify=false", `docker://${registry.host}/${src}`, `oci:${dest}`], { timeout: 60_000 });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-store-import-"));
    registry = await startRegistry();
    // One layer above 1 MiB takes the store's kernel-copy path, the small ones the read-once path.
    one = await pushImage(registry, "apps/one", "1.0", { layers: [1_500_000, 4096] });
    two = await pushImage(registry, "apps/one", "2.0", { layers: [2048] });
    multi = await pushIndex(registry, "apps/multi", "v1", [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    layout = path.join(tmp, "layout");
    multiLayout = path.join(tmp, "multi");
    await copy("apps/one:1.0", `${layout}:1.0`);
    await copy("apps/one:2.0", `${layout}:2.0`);
    await copy("apps/multi:v1", `${multiLayout}:v1`, true);
    root = path.join(tmp, "store");
  }, 180_000);

  afterAll(async () => {
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A copy of the single-image layout to damage. */
  async function layoutCopy(name: string): Promise<string> {
    const dir = path.join(tmp, name);
    await cp(layout, dir, { recursive: true });
    return dir;
  }

  async function expectNothingLeft(repo: string, storeRoot = root): Promise<void> {
    const store = await FsStore.open(storeRoot);
    expect(await store.listRepositories()).not.toContain(repo);
    expect(await readdir(path.join(storeRoot, "tmp"))).toEqual([]);
    expect(await readdir(path.join(storeRoot, "staging"))).toEqual([]);
  }

  it("imports every tag of a skopeo layout with the CLI, byte for byte, and verify passes", async () => {
    const r = await ferry(["store", "import", layout, "mirror/one", "--root", root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported mirror\/one: 2 tags, 2 manifests, 5 blobs, 1\.\d MiB\n$/);
    const store = await FsStore.open(root);
    expect(await store.listTags("mirror/one")).toEqual(["1.0", "2.0"]);
    for (const [tag, image] of [["1.0", one], ["2.0", two]] as const) {
      const m = await store.getManifest("mirror/one", tag);
      expect(m.digest).toBe(image.digest);
      expect(m.bytes.equals(image.bytes)).toBe(true);
      for (const b of image.blobs) expect(await store.statBlob("mirror/one", b.digest)).toEqual({ size: b.size });
    }
    const verify = await ferry(["store", "verify", "--root", root]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("imports a multi-arch index with its children, and only the tags asked for", async () => {
    const store = await FsStore.open(root);
    const r = await importOciLayout(store, multiLayout, "mirror/multi", { tags: ["v1"] });
    expect(r).toMatchObject({ repo: "mirror/multi", tags: ["v1"], manifests: 3, blobs: 4 });
    expect((await store.getManifest("mirror/multi", "v1")).digest).toBe(multi.digest);
    for (const child of multi.children) {
      expect((await store.getManifest("mirror/multi", child.digest)).bytes.equals(child.bytes)).toBe(true);
      for (const b of child.blobs) expect(await store.statBlob("mirror/multi", b.digest)).toEqual({ size: b.size });
    }

    const filtered = await ferry(["store", "import", layout, "mirror/filtered", "--tag", "2.0", "--root", root]);
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(filtered.stdout).toMatch(/^imported mirror\/filtered: 1 tags, 1 manifests, 2 blobs/);
    expect(await store.listTags("mirror/filtered")).toEqual(["2.0"]);
    // 1.0's layers were not asked for and are not part of the repository.
    expect(await store.statBlob("mirror/filtered", one.blobs[1]!.digest)).toBeNull();
  });

  it("takes the tag from a ref name that is a whole reference (as buildkit writes it)", async () => {
    const dir = await layoutCopy("full-ref");
    const indexFile = path.join(dir, "index.json");
    const index = JSON.parse(await readFile(indexFile, "utf8")) as { manifests: Array<{ annotations: Record<string, string> }> };
    for (const d of index.manifests) d.annotations[REF_NAME] = `registry.example:5000/apps/one:${d.annotations[REF_NAME]}`;
    await writeFile(indexFile, JSON.stringify(index));
    const store = await FsStore.open(root);
    const r = await importOciLayout(store, dir, "mirror/full-ref", { tags: ["2.0"] });
    expect(r.tags).toEqual(["2.0"]);
    expect((await store.getManifest("mirror/full-ref", "2.0")).digest).toBe(two.digest);
  });

  it("refuses a tag the layout lacks, with the tags it has, and commits nothing", async () => {
    const r = await ferry(["store", "import", layout, "mirror/nope", "--tag", "nope", "--root", root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BAD_USER_INPUT: not a usable OCI layout: the layout has no tag "nope" (it has: 1.0, 2.0)');
    await expectNothingLeft("mirror/nope");
  });

  it("refuses a layer with one flipped byte (DIGEST_MISMATCH) and leaves no repository or temp file", async () => {
    const dir = await layoutCopy("flipped");
    const layer = one.blobs[1]!; // the 1.5 MB layer: the kernel-copy path
    const fh = await open(path.join(dir, "blobs", "sha256", layer.digest.slice(7)), "r+");
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, 1000);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, 1000);
    await fh.close();
    // A store that already holds the layer never reads the layout's copy: an empty one must.
    const fresh = path.join(tmp, "fresh-store");
    const r = await ferry(["store", "import", dir, "mirror/flipped", "--root", fresh]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("DIGEST_MISMATCH");
    await expectNothingLeft("mirror/flipped", fresh);
    const store = await FsStore.open(fresh);
    await expect(importOciLayout(store, dir, "mirror/flipped", { tags: ["1.0"] })).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expectNothingLeft("mirror/flipped", fresh);
    expect(await store.statBlob("mirror/flipped", layer.digest)).toBeNull();
  });

  it("refuses a directory that is not an OCI layout, and a blob that is a symbolic link", async () => {
    const noMarker = await layoutCopy("no-marker");
    await unlink(path.join(noMarker, "oci-layout"));
    const r = await ferry(["store", "import", noMarker, "mirror/bad", "--root", root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("BAD_USER_INPUT: not a usable OCI layout: the layout lacks oci-layout");
    await expectNothingLeft("mirror/bad");

    const linked = await layoutCopy("linked");
    const blob = path.join(linked, "blobs", "sha256", two.blobs[1]!.digest.slice(7));
    await unlink(blob);
    await symlink(path.join(layout, "blobs", "sha256", two.blobs[1]!.digest.slice(7)), blob);
    const store = await FsStore.open(root);
    await expect(importOciLayout(store, linked, "mirror/linked", { tags: ["2.0"] })).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: expect.stringContaining("not a regular file") });
    await expectNothingLeft("mirror/linked");
  });

  it("exits 2 on usage errors", async () => {
    expect((await ferry(["store", "import", layout, "--root", root])).code).toBe(2);
    expect((await ferry(["store", "import", layout, "a", "b", "--root", root])).code).toBe(2);
    expect((await ferry(["store", "import", layout, "Not/Valid", "--root", root])).code).toBe(2);
  });
});
